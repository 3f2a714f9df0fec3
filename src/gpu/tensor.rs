use std::sync::{Arc, Mutex, Weak};

use super::pool::BufferPool;

/// What one 4-byte element of a tensor holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// 32-bit float.
    F32,
    /// One pixel: R, G, B, A bytes packed little-endian into a u32 (the layout of `ImageData`).
    Rgba8,
}

/// A GPU storage buffer with a shape and a label.
///
/// Feature maps are planar `[C, H, W]` f32 (batch 1), row-major; RGBA8 images are `[H, W]`.
/// Cloning is cheap (a handle). When the last handle is dropped the buffer goes back to the
/// context's pool, so a tensor that a [`super::Plan`] still reads must be kept alive by whoever
/// runs that plan: dropping it marks it as scratch that later allocations may reuse.
#[derive(Clone)]
pub struct Tensor {
    inner: Arc<Inner>,
}

struct Inner {
    buffer: Option<wgpu::Buffer>,
    shape: Vec<usize>,
    dtype: DType,
    label: String,
    pool: Weak<Mutex<BufferPool>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let (Some(buffer), Some(pool)) = (self.buffer.take(), self.pool.upgrade()) {
            if let Ok(mut p) = pool.lock() {
                p.give(buffer);
            }
        }
    }
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor('{}', {:?}, {:?})", self.inner.label, self.inner.shape, self.inner.dtype)
    }
}

impl Tensor {
    pub(crate) fn new(buffer: wgpu::Buffer, shape: Vec<usize>, dtype: DType, label: String, pool: Weak<Mutex<BufferPool>>) -> Self {
        Self { inner: Arc::new(Inner { buffer: Some(buffer), shape, dtype, label, pool }) }
    }

    /// The storage buffer. Its size may exceed [`Tensor::byte_size`] only never: the pool keys
    /// buffers by exact size.
    pub fn buffer(&self) -> &wgpu::Buffer {
        self.inner.buffer.as_ref().expect("buffer is only taken on drop")
    }

    /// The shape, outermost dimension first.
    pub fn shape(&self) -> &[usize] {
        &self.inner.shape
    }

    /// Element type.
    pub fn dtype(&self) -> DType {
        self.inner.dtype
    }

    /// The label given at creation (shown in GPU validation messages).
    pub fn label(&self) -> &str {
        &self.inner.label
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.inner.shape.iter().product()
    }

    /// Size in bytes.
    pub fn byte_size(&self) -> u64 {
        self.numel() as u64 * 4
    }

    /// `(C, H, W)` of a rank-3 tensor, or a shape error naming `op`.
    pub fn chw(&self, op: &'static str) -> crate::Result<(usize, usize, usize)> {
        match (self.dtype(), self.shape()) {
            (DType::F32, &[c, h, w]) => Ok((c, h, w)),
            _ => Err(crate::Error::Shape {
                op,
                message: format!("'{}' must be an f32 [C, H, W] tensor but is {:?} {:?}", self.label(), self.dtype(), self.shape()),
            }),
        }
    }

    /// Whether two handles share one buffer.
    pub fn same_buffer(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}
