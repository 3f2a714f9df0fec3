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
/// context's pool for reuse; a [`super::Plan`] holds handles to every tensor it binds.
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
    /// For a reshaped view: the tensor that owns the buffer (and returns it to the pool).
    _alias: Option<Arc<Inner>>,
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
        write!(
            f,
            "Tensor('{}', {:?}, {:?})",
            self.inner.label, self.inner.shape, self.inner.dtype
        )
    }
}

impl Tensor {
    pub(crate) fn new(
        buffer: wgpu::Buffer,
        shape: Vec<usize>,
        dtype: DType,
        label: String,
        pool: Weak<Mutex<BufferPool>>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                buffer: Some(buffer),
                shape,
                dtype,
                label,
                pool,
                _alias: None,
            }),
        }
    }

    /// The storage buffer: exactly [`Tensor::byte_size`] bytes (the pool keys buffers by size),
    /// or more for a view of its first elements ([`super::Plan::alloc_rounded`]).
    pub fn buffer(&self) -> &wgpu::Buffer {
        self.inner
            .buffer
            .as_ref()
            .expect("buffer is only taken on drop")
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
                message: format!(
                    "'{}' must be an f32 [C, H, W] tensor but is {:?} {:?}",
                    self.label(),
                    self.dtype(),
                    self.shape()
                ),
            }),
        }
    }

    /// A view of the first elements of the same buffer, with another label, shape and dtype of
    /// at most its byte size (used by [`super::Plan::alloc_rounded`]).
    pub(crate) fn prefix(self, label: &str, shape: &[usize], dtype: DType) -> Tensor {
        debug_assert!(shape.iter().product::<usize>() as u64 * 4 <= self.buffer().size());
        self.view(label, shape, dtype)
    }

    /// A handle to the same buffer with another label, shape and dtype of the same byte size
    /// (used by [`super::Plan::alloc`] to reuse a released tensor).
    pub(crate) fn reshaped(self, label: &str, shape: &[usize], dtype: DType) -> Tensor {
        debug_assert_eq!(shape.iter().product::<usize>(), self.numel());
        self.view(label, shape, dtype)
    }

    /// Another handle to the buffer. The view shares it; the original (held as `_alias`)
    /// returns it to the pool once, when the last handle to either is gone.
    fn view(self, label: &str, shape: &[usize], dtype: DType) -> Tensor {
        let buffer = self.inner.buffer.clone();
        Tensor {
            inner: Arc::new(Inner {
                buffer,
                shape: shape.to_vec(),
                dtype,
                label: label.to_string(),
                pool: Weak::new(),
                _alias: Some(self.inner),
            }),
        }
    }

    /// Whether two handles share one buffer.
    pub fn same_buffer(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}
