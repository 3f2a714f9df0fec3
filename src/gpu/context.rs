use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::pool::{BufferPool, PoolStats};
use super::tensor::{DType, Tensor};
use super::tuning::{TuneMode, TuneState, TuningTable};
use crate::error::{fmt_bytes, Error, Result};

/// The parts of the adapter's description a user or a bug report needs.
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterSummary {
    /// Adapter name, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)" or "SwiftShader Device".
    pub name: String,
    /// Backend: "vulkan", "metal", "dx12", "gl" or "webgpu".
    pub backend: String,
    /// Driver name and version where the platform reports them.
    pub driver: String,
    /// "discrete", "integrated", "virtual", "cpu" or "other".
    pub device_type: String,
    /// Whether the adapter supports 16-bit floats in shaders (`shader-f16`).
    pub shader_f16: bool,
    /// Whether the device was opened with timestamp queries (profiles then time dispatches
    /// on the GPU's own clock).
    pub timestamps: bool,
    /// The smallest and largest subgroup (lanes run together) where the device was opened
    /// with subgroup operations: natively, where the adapter has them (lavapipe: 8 and 8).
    /// None in browsers, which would need the shaders to enable them.
    pub subgroup_sizes: Option<(u32, u32)>,
    /// The limits the device was opened with.
    pub limits: LimitsSummary,
}

impl AdapterSummary {
    fn new(
        name: String,
        info: &wgpu::AdapterInfo,
        features: &wgpu::Features,
        limits: &wgpu::Limits,
    ) -> Self {
        Self {
            name,
            backend: info.backend.to_str().to_string(),
            driver: format!("{} {}", info.driver, info.driver_info)
                .trim()
                .to_string(),
            device_type: match info.device_type {
                wgpu::DeviceType::DiscreteGpu => "discrete",
                wgpu::DeviceType::IntegratedGpu => "integrated",
                wgpu::DeviceType::VirtualGpu => "virtual",
                wgpu::DeviceType::Cpu => "cpu",
                wgpu::DeviceType::Other => "other",
            }
            .to_string(),
            shader_f16: features.contains(wgpu::Features::SHADER_F16),
            timestamps: features.contains(wgpu::Features::TIMESTAMP_QUERY),
            subgroup_sizes: (*features & wanted_features())
                .contains(wgpu::Features::SUBGROUP)
                .then_some((info.subgroup_min_size, info.subgroup_max_size)),
            limits: LimitsSummary {
                max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
                max_buffer_size: limits.max_buffer_size,
                max_compute_workgroup_storage_size: limits.max_compute_workgroup_storage_size,
                max_compute_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
                max_compute_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
                max_storage_buffers_per_shader_stage: limits.max_storage_buffers_per_shader_stage,
            },
        }
    }
}

/// The optional features the device is opened with where the adapter has them.
fn wanted_features() -> wgpu::Features {
    let wanted = wgpu::Features::TIMESTAMP_QUERY;
    // In a browser the shaders would have to `enable subgroups`, a directive naga's WGSL
    // reader refuses: native only.
    #[cfg(not(target_arch = "wasm32"))]
    let wanted = wanted | wgpu::Features::SUBGROUP;
    wanted
}

impl AdapterSummary {
    /// Whether the subgroup kernel (`conv2d_tiled_sg.wgsl`) can run: subgroup operations, and
    /// subgroups of at least the lanes it shares loads among.
    pub fn shares_subgroup_loads(&self) -> bool {
        self.subgroup_sizes
            .is_some_and(|(min, _)| min as usize >= crate::ops::conv2d::SUBGROUP_LANES)
    }

    /// Whether tiled convolutions run the subgroup kernel untuned: on an emulated GPU with
    /// subgroups, where it gives the same bits 1.2-1.9x faster (lavapipe loads through memory
    /// lane by lane). Elsewhere it is a tuning candidate only.
    pub fn subgroup_conv_by_default(&self) -> bool {
        self.is_emulated() && self.shares_subgroup_loads()
    }

    /// Whether the adapter is a GPU emulated on the CPU (lavapipe/llvmpipe, SwiftShader, or one
    /// that says it is a CPU): browsers report every adapter's type as "other", so the name
    /// decides there.
    pub fn is_emulated(&self) -> bool {
        let name = self.name.to_lowercase();
        self.device_type == "cpu"
            || ["llvmpipe", "lavapipe", "swiftshader", "warp"]
                .iter()
                .any(|n| name.contains(n))
    }
}

/// The device limits that decide what sizes the engine can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitsSummary {
    /// Largest storage-buffer binding, in bytes.
    pub max_storage_buffer_binding_size: u64,
    /// Largest buffer, in bytes.
    pub max_buffer_size: u64,
    /// Workgroup (shared) memory per workgroup, in bytes.
    pub max_compute_workgroup_storage_size: u32,
    /// Invocations per workgroup.
    pub max_compute_invocations_per_workgroup: u32,
    /// Workgroups per dispatch dimension.
    pub max_compute_workgroups_per_dimension: u32,
    /// Storage buffers per shader stage.
    pub max_storage_buffers_per_shader_stage: u32,
}

/// One GPU device and everything created once for it: the queue, the pipeline cache and the
/// buffer pool.
///
/// Create it once ([`GpuContext::new`]) and share it (`Arc<GpuContext>`); every op, model and
/// optimiser takes it by reference.
pub struct GpuContext {
    /// Kept for surfaces (live output to a canvas).
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) instance: wgpu::Instance,
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) raw_adapter: wgpu::Adapter,
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    summary: AdapterSummary,
    limits: wgpu::Limits,
    pub(crate) pipelines: Mutex<HashMap<String, wgpu::ComputePipeline>>,
    pub(crate) modules: Mutex<HashMap<&'static str, wgpu::ShaderModule>>,
    pub(crate) pool: Arc<Mutex<BufferPool>>,
    pub(crate) uncaptured: Arc<Mutex<Vec<String>>>,
    pub(crate) tuning: Mutex<TuneState>,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext")
            .field("adapter", &self.summary)
            .finish()
    }
}

/// Which kind of adapter to prefer when several are present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PowerPreference {
    /// Let the platform choose.
    #[default]
    Default,
    /// Prefer a discrete GPU.
    HighPerformance,
    /// Prefer an integrated GPU.
    LowPower,
}

impl GpuContext {
    /// Finds an adapter and opens a device on it, asking for the adapter's own limits (larger
    /// storage bindings, buffers and workgroup memory than WebGPU's defaults where it has them).
    ///
    /// Natively the backend can be chosen with `WGPU_BACKEND` (`vulkan`, `metal`, `dx12`, `gl`)
    /// and the adapter with `WGPU_ADAPTER_NAME`. Fails with [`Error::NoAdapter`] when there is no
    /// usable GPU, never panics.
    pub async fn new() -> Result<Self> {
        Self::with_preference(PowerPreference::Default).await
    }

    /// [`GpuContext::new`] with a power preference.
    pub async fn with_preference(pref: PowerPreference) -> Result<Self> {
        #[cfg(target_arch = "wasm32")]
        {
            let nav =
                js_sys::Reflect::get(&js_sys::global(), &"navigator".into()).unwrap_or_default();
            let gpu = js_sys::Reflect::get(&nav, &"gpu".into()).unwrap_or_default();
            if gpu.is_undefined() || gpu.is_null() {
                return Err(Error::NoAdapter {
                    detail: "this browser does not expose navigator.gpu".into(),
                });
            }
        }
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let power_preference = match pref {
            PowerPreference::Default => wgpu::PowerPreference::from_env().unwrap_or_default(),
            PowerPreference::HighPerformance => wgpu::PowerPreference::HighPerformance,
            PowerPreference::LowPower => wgpu::PowerPreference::LowPower,
        };
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference,
                force_fallback_adapter: false,
                compatible_surface: None,
                apply_limit_buckets: false,
            })
            .await
            .map_err(|e| Error::NoAdapter {
                detail: e.to_string(),
            })?;
        let info = adapter.get_info();
        let features = adapter.features();
        let limits = adapter.limits();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("webgpu-style-transfer"),
                // Timestamp queries where the adapter has them, for profiles, and natively
                // subgroup operations (the convolution's shared weight loads); nothing else
                // beyond the WebGPU baseline.
                required_features: features & wanted_features(),
                required_limits: limits.clone(),
                experimental_features: wgpu::ExperimentalFeatures::default(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| Error::RequestDevice {
                adapter: info.name.clone(),
                detail: e.to_string(),
            })?;

        // Errors outside an error scope would otherwise panic natively; record them and turn
        // them into `Error::Gpu` at the next `Plan::run` or readback.
        let uncaptured = Arc::new(Mutex::new(Vec::new()));
        let sink = uncaptured.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut v) = sink.lock() {
                v.push(e.to_string());
            }
        }));

        let limits = device.limits();
        #[cfg(target_arch = "wasm32")]
        let name = if info.name.is_empty() {
            browser_adapter_name().await
        } else {
            info.name.clone()
        };
        #[cfg(not(target_arch = "wasm32"))]
        let name = info.name.clone();
        let summary = AdapterSummary::new(name, &info, &features, &limits);
        log::info!("GPU: {} ({})", summary.name, summary.backend);
        Ok(Self {
            instance,
            raw_adapter: adapter,
            device,
            queue,
            summary,
            limits,
            pipelines: Mutex::new(HashMap::new()),
            modules: Mutex::new(HashMap::new()),
            pool: Arc::new(Mutex::new(BufferPool::default())),
            uncaptured,
            tuning: Mutex::new(TuneState::default()),
        })
    }

    /// What adapter this is, and the limits the device was opened with.
    pub fn adapter(&self) -> &AdapterSummary {
        &self.summary
    }

    /// What names this adapter and driver in a tuning cache: tuned choices hold for it alone.
    pub fn tuning_key(&self) -> String {
        let a = &self.summary;
        format!("{} | {} | {}", a.name, a.backend, a.driver)
    }

    /// Whether ops use tuned kernel choices ([`TuneMode::Cached`] unless set).
    pub fn tune_mode(&self) -> TuneMode {
        self.tune_state().mode
    }

    /// Sets whether ops use tuned kernel choices, for plans recorded from now on (plan caches
    /// record theirs again).
    pub fn set_tune_mode(&self, mode: TuneMode) {
        let mut s = self.tune_state();
        if s.mode != mode {
            s.mode = mode;
            s.generation += 1;
        }
    }

    /// A copy of this device's tuned choices.
    pub fn tuning_table(&self) -> TuningTable {
        self.tune_state().table.clone()
    }

    /// Adds tuned choices (loaded from a cache) for plans recorded from now on (plan caches
    /// record theirs again).
    pub fn load_tuning(&self, table: TuningTable) {
        self.tune_state().extend(table);
    }

    /// Which tuning plans recorded now follow: it changes with the mode and the table.
    pub fn tuning_generation(&self) -> u64 {
        self.tune_state().generation
    }

    pub(crate) fn tune_state(&self) -> std::sync::MutexGuard<'_, TuneState> {
        // The state stays consistent whatever panicked while holding it: no poisoning.
        self.tuning.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The device's limits.
    pub fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    /// The wgpu device, for callers that add their own work.
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    /// The wgpu queue.
    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    /// How much the buffer pool holds and how often it served a request without allocating.
    pub fn pool_stats(&self) -> PoolStats {
        self.pool.lock().map(|p| p.stats()).unwrap_or_default()
    }

    /// Restarts the peak of [`PoolStats::peak_bytes`] from what is allocated now.
    pub fn reset_peak_memory(&self) {
        if let Ok(mut p) = self.pool.lock() {
            p.reset_peak();
        }
    }

    /// Frees the buffers the pool keeps for reuse (those of live tensors stay).
    pub fn trim_pool(&self) {
        if let Ok(mut p) = self.pool.lock() {
            p.clear();
        }
    }

    /// Checks that a storage buffer of `bytes` fits this device, naming `op` and `what` if not.
    pub fn check_storage_size(&self, op: &str, what: &str, bytes: u64) -> Result<()> {
        let binding = self.limits.max_storage_buffer_binding_size;
        let (limit, name) = if binding < self.limits.max_buffer_size {
            (binding, "maxStorageBufferBindingSize")
        } else {
            (self.limits.max_buffer_size, "maxBufferSize")
        };
        if bytes > limit {
            return Err(Error::TooLarge {
                op: op.to_string(),
                what: what.to_string(),
                needed: fmt_bytes(bytes),
                limit: fmt_bytes(limit),
                limit_name: name,
                hint: "use a smaller image, or process it in tiles".to_string(),
            });
        }
        Ok(())
    }

    /// A tensor of the given shape whose contents are undefined (every op writes all of its
    /// output). The buffer comes from the pool when one of that size is free.
    pub fn tensor(&self, label: &str, shape: &[usize], dtype: DType) -> Result<Tensor> {
        let numel: usize = shape.iter().product();
        if numel == 0 {
            return Err(Error::Shape {
                op: "tensor",
                message: format!("'{label}' has shape {shape:?}, with no elements; every dimension must be at least 1"),
            });
        }
        let bytes = numel as u64 * 4;
        self.check_storage_size("tensor", &format!("'{label}' {shape:?}"), bytes)?;
        let buffer = self.pool.lock().ok().and_then(|mut p| p.take(bytes));
        let buffer = buffer.unwrap_or_else(|| {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        });
        Ok(Tensor::new(
            buffer,
            shape.to_vec(),
            dtype,
            label.to_string(),
            Arc::downgrade(&self.pool),
        ))
    }

    /// Uploads `data` as an f32 tensor of `shape`.
    pub fn upload(&self, label: &str, shape: &[usize], data: &[f32]) -> Result<Tensor> {
        let t = self.tensor(label, shape, DType::F32)?;
        if data.len() != t.numel() {
            return Err(Error::Shape {
                op: "upload",
                message: format!(
                    "'{label}': shape {shape:?} holds {} values but {} were given",
                    t.numel(),
                    data.len()
                ),
            });
        }
        self.queue
            .write_buffer(t.buffer(), 0, bytemuck::cast_slice(data));
        Ok(t)
    }

    /// Uploads packed RGBA8 pixels (`width * height` of them, row-major) as an
    /// [`DType::Rgba8`] tensor of shape `[height, width]`.
    pub fn upload_rgba8(
        &self,
        label: &str,
        width: usize,
        height: usize,
        rgba: &[u8],
    ) -> Result<Tensor> {
        if rgba.len() != width * height * 4 {
            return Err(Error::Shape {
                op: "upload_rgba8",
                message: format!(
                    "{width}x{height} RGBA8 pixels need {} bytes but {} were given",
                    width * height * 4,
                    rgba.len()
                ),
            });
        }
        let t = self.tensor(label, &[height, width], DType::Rgba8)?;
        self.queue.write_buffer(t.buffer(), 0, rgba);
        Ok(t)
    }

    /// Overwrites a tensor's contents (ordered after all work already submitted).
    pub fn write(&self, tensor: &Tensor, data: &[f32]) -> Result<()> {
        if data.len() != tensor.numel() {
            return Err(Error::Shape {
                op: "write",
                message: format!(
                    "'{}' {:?} holds {} values but {} were given",
                    tensor.label(),
                    tensor.shape(),
                    tensor.numel(),
                    data.len()
                ),
            });
        }
        self.queue
            .write_buffer(tensor.buffer(), 0, bytemuck::cast_slice(data));
        Ok(())
    }

    /// Reads an f32 tensor back to the CPU.
    pub async fn read(&self, tensor: &Tensor) -> Result<Vec<f32>> {
        let bytes = self.read_bytes(tensor).await?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// Reads a tensor's raw bytes back (RGBA8 tensors: 4 bytes a pixel).
    pub async fn read_bytes(&self, tensor: &Tensor) -> Result<Vec<u8>> {
        Ok(self.read_many_bytes(&[tensor]).await?.remove(0))
    }

    /// Reads several f32 tensors back with one copy submission and one mapping (for small
    /// results such as loss terms, where a readback per tensor would wait on the GPU each time).
    pub async fn read_many(&self, tensors: &[&Tensor]) -> Result<Vec<Vec<f32>>> {
        Ok(self
            .read_many_bytes(tensors)
            .await?
            .iter()
            .map(|b| bytemuck::pod_collect_to_vec(b))
            .collect())
    }

    async fn read_many_bytes(&self, tensors: &[&Tensor]) -> Result<Vec<Vec<u8>>> {
        let label = tensors
            .iter()
            .map(|t| t.label())
            .collect::<Vec<_>>()
            .join(", ");
        let readback_err = |message: String| Error::Readback {
            label: label.clone(),
            message,
        };
        // Tensor sizes are multiples of 4 bytes, as copies require.
        let total: u64 = tensors.iter().map(|t| t.byte_size()).sum();
        if total == 0 {
            return Ok(vec![Vec::new(); tensors.len()]);
        }
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback staging"),
            size: total,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("readback"),
            });
        let mut offset = 0;
        for t in tensors {
            enc.copy_buffer_to_buffer(t.buffer(), 0, &staging, offset, t.byte_size());
            offset += t.byte_size();
        }
        self.queue.submit([enc.finish()]);
        let (tx, rx) = futures_channel::oneshot::channel();
        staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.wait_idle()?;
        rx.await
            .map_err(|_| readback_err("the device was lost before the data arrived".into()))?
            .map_err(|e| readback_err(e.to_string()))?;
        self.take_uncaptured("readback")?;
        let data = staging
            .get_mapped_range(..)
            .map_err(|e| readback_err(e.to_string()))?
            .to_vec();
        staging.unmap();
        let mut out = Vec::with_capacity(tensors.len());
        let mut start = 0usize;
        for t in tensors {
            let end = start + t.byte_size() as usize;
            out.push(data[start..end].to_vec());
            start = end;
        }
        Ok(out)
    }

    /// Waits until all submitted work has finished (natively blocks; in the browser awaits).
    pub async fn finish(&self) -> Result<()> {
        let (tx, rx) = futures_channel::oneshot::channel();
        self.queue.on_submitted_work_done(move || {
            let _ = tx.send(());
        });
        self.wait_idle()?;
        rx.await.map_err(|_| Error::Gpu {
            op: "finish".into(),
            message: "device lost".into(),
        })?;
        self.take_uncaptured("finish")
    }

    /// Natively, drives the device until the queue is empty; in the browser the event loop does.
    pub(super) fn wait_idle(&self) -> Result<()> {
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu {
                op: "poll".into(),
                message: e.to_string(),
            })?;
        Ok(())
    }

    /// Turns errors the device reported outside any error scope into an [`Error::Gpu`].
    pub(crate) fn take_uncaptured(&self, op: &str) -> Result<()> {
        let mut errs = self
            .uncaptured
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default();
        if errs.is_empty() {
            Ok(())
        } else {
            Err(Error::Gpu {
                op: op.to_string(),
                message: errs.remove(0),
            })
        }
    }
}

/// Browsers leave wgpu's adapter name empty; describe the adapter from `GPUAdapter.info`
/// instead ("google swiftshader", "nvidia ampere", ...).
#[cfg(target_arch = "wasm32")]
async fn browser_adapter_name() -> String {
    use js_sys::Reflect;
    use wasm_bindgen::JsCast;
    let get = |o: &wasm_bindgen::JsValue, k: &str| Reflect::get(o, &k.into()).unwrap_or_default();
    let gpu = get(&get(&js_sys::global(), "navigator"), "gpu");
    let Ok(request) = get(&gpu, "requestAdapter").dyn_into::<js_sys::Function>() else {
        return "WebGPU adapter".into();
    };
    let Ok(promise) = request
        .call0(&gpu)
        .and_then(|p| p.dyn_into::<js_sys::Promise>())
    else {
        return "WebGPU adapter".into();
    };
    let adapter = wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .unwrap_or_default();
    let info = get(&adapter, "info");
    let parts: Vec<String> = ["vendor", "architecture", "device", "description"]
        .iter()
        .filter_map(|k| get(&info, k).as_string())
        .filter(|s| !s.is_empty())
        .collect();
    if parts.is_empty() {
        "WebGPU adapter".into()
    } else {
        parts.join(" ")
    }
}
