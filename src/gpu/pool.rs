use std::collections::HashMap;

/// Figures from the buffer pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Buffers created because no free one of the right size existed.
    pub created: u64,
    /// Requests served by a freed buffer.
    pub reused: u64,
    /// Bytes held by free buffers waiting for reuse.
    pub free_bytes: u64,
    /// Bytes of all storage buffers the pool's context created and has not freed (live
    /// tensors, weights and free buffers).
    pub allocated_bytes: u64,
    /// The most `allocated_bytes` has been since the context was created or the peak reset.
    pub peak_bytes: u64,
}

/// Free storage buffers by exact byte size. A [`super::Tensor`] returns its buffer here when
/// the last handle to it is dropped.
#[derive(Default)]
pub(crate) struct BufferPool {
    free: HashMap<u64, Vec<wgpu::Buffer>>,
    stats: PoolStats,
}

impl BufferPool {
    pub(crate) fn take(&mut self, bytes: u64) -> Option<wgpu::Buffer> {
        let b = self.free.get_mut(&bytes).and_then(|v| v.pop());
        if b.is_some() {
            self.stats.reused += 1;
            self.stats.free_bytes -= bytes;
        } else {
            self.stats.created += 1;
            self.stats.allocated_bytes += bytes;
            self.stats.peak_bytes = self.stats.peak_bytes.max(self.stats.allocated_bytes);
        }
        b
    }

    pub(crate) fn give(&mut self, buffer: wgpu::Buffer) {
        let size = buffer.size();
        self.stats.free_bytes += size;
        self.free.entry(size).or_default().push(buffer);
    }

    pub(crate) fn stats(&self) -> PoolStats {
        self.stats
    }

    pub(crate) fn clear(&mut self) {
        self.free.clear();
        self.stats.allocated_bytes -= self.stats.free_bytes;
        self.stats.free_bytes = 0;
    }

    pub(crate) fn reset_peak(&mut self) {
        self.stats.peak_bytes = self.stats.allocated_bytes;
    }
}
