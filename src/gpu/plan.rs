use wgpu::util::DeviceExt;

use super::context::GpuContext;
use super::tensor::Tensor;
use crate::error::{Error, Result};

/// A WGSL compute kernel: a shader file and one of its entry points.
///
/// Shapes reach a kernel at run time through its `Params` struct (binding 0, a small read-only
/// storage buffer: see [`GpuContext::dispatch`] for why not a uniform buffer);
/// specialisations that change the generated code (tile shape, kernel size, workgroup size)
/// are WGSL `override` constants, and each distinct set of them is one cached pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kernel {
    /// Shader file name, used as the cache key and in labels.
    pub name: &'static str,
    /// WGSL source.
    pub source: &'static str,
    /// Entry point.
    pub entry: &'static str,
}

/// One tensor bound to a kernel, in binding order after the `Params`.
pub type Binding<'a> = &'a Tensor;

/// A recorded dispatch: pipeline, bind group (with its `Params`) and workgroup count, built
/// once and encoded as often as its [`Plan`] runs.
pub struct Dispatch {
    label: String,
    /// The kernel's shader file (what a profile names).
    kernel: &'static str,
    /// Floating-point operations of one run (multiply-adds count two), where the op states
    /// them (convolutions, Gram matrices); 0 otherwise.
    flops: u64,
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    workgroups: [u32; 3],
    /// The bound tensors, kept alive (out of the buffer pool) as long as the dispatch exists.
    _tensors: Vec<Tensor>,
    /// In the browser: the validation result of building this dispatch, which arrives
    /// asynchronously; the first [`Plan::run`] awaits it.
    #[cfg(target_arch = "wasm32")]
    pending: PendingScope,
}

#[cfg(target_arch = "wasm32")]
type PendingScope = std::cell::RefCell<
    Option<std::pin::Pin<Box<dyn std::future::Future<Output = Option<wgpu::Error>>>>>,
>;

impl std::fmt::Debug for Dispatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatch")
            .field("label", &self.label)
            .field("workgroups", &self.workgroups)
            .finish()
    }
}

impl Dispatch {
    /// The label (op name and output tensor).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Workgroups dispatched in x, y, z.
    pub fn workgroups(&self) -> [u32; 3] {
        self.workgroups
    }

    /// The kernel's shader file name.
    pub fn kernel(&self) -> &'static str {
        self.kernel
    }

    /// The shape of the last bound tensor (by the ops' convention, the output).
    pub fn output_shape(&self) -> &[usize] {
        self._tensors.last().map_or(&[], |t| t.shape())
    }

    /// Floating-point operations of one run, or 0 where the op does not state them.
    pub fn flops(&self) -> u64 {
        self.flops
    }

    /// Whether `other` runs the same pipeline (kernel and specialisation) over the same grid.
    pub fn same_launch(&self, other: &Dispatch) -> bool {
        self.pipeline == other.pipeline && self.workgroups == other.workgroups
    }

    /// States the dispatch's floating-point operations (for profiles' GFLOP/s).
    pub fn with_flops(mut self, flops: u64) -> Self {
        self.flops = flops;
        self
    }
}

/// An ordered list of dispatches that runs as one command buffer and one queue submission.
///
/// Ops append to a plan; a model builds its plan once per input size and runs it for every
/// frame, so nothing (pipelines, bind groups, buffers) is created per run. A plan keeps every
/// tensor it binds alive. Intermediate tensors whose last use has been recorded can be handed
/// back with [`Plan::release`]; later outputs of the same plan then reuse their buffers (safe,
/// because the plan's dispatches run in order), which keeps a deep net's memory to a few
/// feature maps.
#[derive(Debug, Default)]
pub struct Plan {
    label: String,
    dispatches: Vec<Dispatch>,
    free: Vec<Tensor>,
}

impl Plan {
    /// An empty plan.
    pub fn new(label: &str) -> Self {
        Self {
            label: label.to_string(),
            dispatches: Vec::new(),
            free: Vec::new(),
        }
    }

    /// An output tensor for an op of this plan: a released tensor of the same byte size if
    /// there is one, otherwise a new one from the context.
    pub fn alloc(
        &mut self,
        ctx: &GpuContext,
        label: &str,
        shape: &[usize],
        dtype: super::DType,
    ) -> Result<Tensor> {
        let bytes = shape.iter().product::<usize>() as u64 * 4;
        match self.take_released(|t| t.byte_size() == bytes) {
            Some(t) => Ok(t.reshaped(label, shape, dtype)),
            None => ctx.tensor(label, shape, dtype),
        }
    }

    /// [`Plan::alloc`] on a buffer of the next power of two bytes (`t` views its first
    /// elements): outputs of many sizes, such as a window matrix for each layer of a net, then
    /// share a few released buffers, each at most twice what it holds.
    pub fn alloc_rounded(
        &mut self,
        ctx: &GpuContext,
        label: &str,
        shape: &[usize],
        dtype: super::DType,
    ) -> Result<Tensor> {
        let bytes = (shape.iter().product::<usize>() as u64 * 4).next_power_of_two();
        let t = match self.take_released(|t| t.buffer().size() == bytes) {
            Some(t) => t,
            None => ctx.tensor(label, &[bytes as usize / 4], dtype)?,
        };
        Ok(t.prefix(label, shape, dtype))
    }

    /// A released tensor that `fits`, taken off the free list.
    fn take_released(&mut self, fits: impl Fn(&Tensor) -> bool) -> Option<Tensor> {
        let i = self.free.iter().position(fits)?;
        Some(self.free.swap_remove(i))
    }

    /// Marks `t` as dead for the rest of the plan: no dispatch recorded after this call may
    /// read it, and a later [`Plan::alloc`] may reuse its buffer.
    pub fn release(&mut self, t: Tensor) {
        self.free.push(t);
    }

    /// Appends a dispatch.
    pub fn push(&mut self, d: Dispatch) {
        self.dispatches.push(d);
    }

    /// Appends all dispatches of another plan.
    pub fn extend(&mut self, other: Plan) {
        self.dispatches.extend(other.dispatches);
    }

    /// Bytes of the distinct storage buffers the plan binds (what keeping it costs).
    pub fn bytes(&self) -> u64 {
        // A plan binds at most a few hundred buffers: a linear search is enough.
        let mut seen: Vec<&wgpu::Buffer> = Vec::new();
        for t in self.dispatches.iter().flat_map(|d| &d._tensors) {
            if !seen.contains(&t.buffer()) {
                seen.push(t.buffer());
            }
        }
        seen.iter().map(|b| b.size()).sum()
    }

    /// The recorded dispatches, in order.
    pub fn dispatches(&self) -> &[Dispatch] {
        &self.dispatches
    }

    /// Records the plan into an encoder as one compute pass (wgpu orders the dispatches and
    /// inserts the barriers between them).
    pub fn encode(&self, enc: &mut wgpu::CommandEncoder) {
        self.encode_range(enc, 0..self.dispatches.len());
    }

    /// Records the dispatches `range` of the plan into an encoder as one compute pass.
    fn encode_range(&self, enc: &mut wgpu::CommandEncoder, range: std::ops::Range<usize>) {
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(&self.label),
            timestamp_writes: None,
        });
        for d in &self.dispatches[range] {
            pass.set_pipeline(&d.pipeline);
            pass.set_bind_group(0, &d.bind_group, &[]);
            let [x, y, z] = d.workgroups;
            pass.dispatch_workgroups(x, y, z);
        }
    }

    /// Records every dispatch in its own compute pass, with GPU timestamps written before and
    /// after it into `queries` (two per dispatch, in plan order): a profile's timing.
    pub(super) fn encode_timed(&self, enc: &mut wgpu::CommandEncoder, queries: &wgpu::QuerySet) {
        for (i, d) in self.dispatches.iter().enumerate() {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(&d.label),
                timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                    query_set: queries,
                    beginning_of_pass_write_index: Some(2 * i as u32),
                    end_of_pass_write_index: Some(2 * i as u32 + 1),
                }),
            });
            pass.set_pipeline(&d.pipeline);
            pass.set_bind_group(0, &d.bind_group, &[]);
            let [x, y, z] = d.workgroups;
            pass.dispatch_workgroups(x, y, z);
        }
    }

    /// Submits the plan without waiting on an error scope (for callers that cannot await, e.g.
    /// while holding a lock); errors the device reports surface at the next readback.
    pub fn submit(&self, ctx: &GpuContext) {
        self.submit_range(ctx, 0..self.dispatches.len());
    }

    /// Submits the dispatches `range` of the plan (as [`Plan::submit`]): a long plan submitted
    /// in parts can report progress between them, and no single submission runs long enough
    /// for an operating system's GPU watchdog to reset the device.
    pub fn submit_range(&self, ctx: &GpuContext, range: std::ops::Range<usize>) {
        let mut enc = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some(&self.label),
            });
        self.encode_range(&mut enc, range);
        ctx.queue.submit([enc.finish()]);
    }

    /// Submits the plan once. Validation errors are caught in an error scope and returned as
    /// [`Error::Gpu`] naming the plan. Does not wait for the GPU to finish.
    pub async fn run(&self, ctx: &GpuContext) -> Result<()> {
        Self::run_all(ctx, &[self]).await
    }

    /// Submits several plans in order as one command buffer (one submission), with the error
    /// handling of [`Plan::run`].
    pub async fn run_all(ctx: &GpuContext, plans: &[&Plan]) -> Result<()> {
        let label = plans
            .iter()
            .map(|p| p.label.as_str())
            .collect::<Vec<_>>()
            .join(" + ");
        #[cfg(target_arch = "wasm32")]
        for plan in plans {
            for d in &plan.dispatches {
                let pending = d.pending.borrow_mut().take();
                if let Some(fut) = pending {
                    if let Some(e) = fut.await {
                        return Err(Error::Gpu {
                            op: format!("{} (building '{}')", plan.label, d.label),
                            message: e.to_string(),
                        });
                    }
                }
            }
        }
        let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let mut enc = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some(&label),
            });
        for plan in plans {
            plan.encode(&mut enc);
        }
        ctx.queue.submit([enc.finish()]);
        if let Some(e) = scope.pop().await {
            return Err(Error::Gpu {
                op: label,
                message: e.to_string(),
            });
        }
        ctx.take_uncaptured(&label)
    }
}

impl GpuContext {
    /// The pipeline for `kernel` specialised with `constants`, compiled on first use.
    pub fn pipeline(&self, kernel: &Kernel, constants: &[(&str, f64)]) -> wgpu::ComputePipeline {
        let mut key = format!("{}:{}", kernel.name, kernel.entry);
        for (k, v) in constants {
            key.push_str(&format!(":{k}={v}"));
        }
        let mut cache = self.pipelines.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = cache.get(&key) {
            return p.clone();
        }
        let module = {
            let mut modules = self.modules.lock().unwrap_or_else(|p| p.into_inner());
            modules
                .entry(kernel.name)
                .or_insert_with(|| {
                    self.device
                        .create_shader_module(wgpu::ShaderModuleDescriptor {
                            label: Some(kernel.name),
                            source: wgpu::ShaderSource::Wgsl(kernel.source.into()),
                        })
                })
                .clone()
        };
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&key),
                layout: None,
                module: &module,
                entry_point: Some(kernel.entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants,
                    zero_initialize_workgroup_memory: false,
                },
                cache: None,
            });
        cache.insert(key, pipeline.clone());
        pipeline
    }

    /// Builds a dispatch of `kernel`: uploads `params` (binding 0), binds `tensors` at bindings
    /// 1.. in order, and checks the workgroup count against the device.
    ///
    /// `params` is bound as a read-only storage buffer, not a uniform buffer: lavapipe (Mesa
    /// 22.x) inlines the values of uniforms that steer loops into the shader and compiles a new
    /// variant whenever they change, at every dispatch of a layer with other shapes; each
    /// compilation costs tens of milliseconds and leaks about 2 MB (a Gatys run grew by
    /// 10 MB per iteration). Storage reads of a few scalars cost nothing measurable elsewhere.
    pub fn dispatch<P: bytemuck::Pod>(
        &self,
        label: &str,
        kernel: &Kernel,
        constants: &[(&str, f64)],
        params: &P,
        tensors: &[Binding<'_>],
        workgroups: [u32; 3],
    ) -> Result<Dispatch> {
        let max = self.limits().max_compute_workgroups_per_dimension;
        if let Some(&n) = workgroups.iter().find(|&&n| n > max) {
            return Err(Error::TooLarge {
                op: label.to_string(),
                what: "the dispatch".to_string(),
                needed: format!("{n} workgroups in one dimension"),
                limit: max.to_string(),
                limit_name: "maxComputeWorkgroupsPerDimension",
                hint: "use a smaller image, or process it in tiles".to_string(),
            });
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let pipeline = self.pipeline(kernel, constants);
        let params = self
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytemuck::bytes_of(params),
                usage: wgpu::BufferUsages::STORAGE,
            });
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: params.as_entire_binding(),
        }];
        for (i, t) in tensors.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry {
                binding: i as u32 + 1,
                resource: t.buffer().as_entire_binding(),
            });
        }
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(label),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        let tensors = tensors.iter().map(|&t| t.clone()).collect();
        #[cfg(not(target_arch = "wasm32"))]
        {
            self.check_scope(label, scope)?;
            Ok(Dispatch {
                label: label.to_string(),
                kernel: kernel.name,
                flops: 0,
                pipeline,
                bind_group,
                workgroups,
                _tensors: tensors,
            })
        }
        #[cfg(target_arch = "wasm32")]
        {
            let pending = std::cell::RefCell::new(Some(Box::pin(scope.pop()) as _));
            Ok(Dispatch {
                label: label.to_string(),
                kernel: kernel.name,
                flops: 0,
                pipeline,
                bind_group,
                workgroups,
                _tensors: tensors,
                pending,
            })
        }
    }

    /// Pops a validation scope opened while building `label`. Natively wgpu validates as it
    /// goes, so the scope's result is ready at once and becomes this call's `Err`.
    #[cfg(not(target_arch = "wasm32"))]
    fn check_scope(&self, label: &str, scope: wgpu::ErrorScopeGuard) -> Result<()> {
        use std::future::Future;
        let mut fut = Box::pin(scope.pop());
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(Some(e)) => Err(Error::Gpu {
                op: label.to_string(),
                message: e.to_string(),
            }),
            std::task::Poll::Ready(None) => Ok(()),
            std::task::Poll::Pending => {
                // Not expected from wgpu-core; report the result whenever it comes.
                let sink = self.uncaptured.clone();
                let label = label.to_string();
                std::thread::spawn(move || {
                    if let Some(e) = pollster::block_on(fut) {
                        if let Ok(mut v) = sink.lock() {
                            v.push(format!("{label}: {e}"));
                        }
                    }
                });
                Ok(())
            }
        }
    }
}

/// Workgroups to cover `n` elements with `per_group` elements a workgroup, spread over x and y
/// when x alone would exceed 65535 (kernels rebuild the linear index from `num_workgroups`).
pub(crate) fn linear_workgroups(n: usize, per_group: usize) -> [u32; 3] {
    let groups = n.div_ceil(per_group).max(1);
    if groups <= 65535 {
        [groups as u32, 1, 1]
    } else {
        let y = groups.div_ceil(65535);
        [groups.div_ceil(y) as u32, y as u32, 1]
    }
}
