//! # webgpu-style-transfer
//!
//! Neural style transfer as WGSL compute shaders through [`wgpu`]: in the browser on WebGPU
//! (through the wasm-bindgen facade) and natively on Vulkan, Metal, DX12 or GL.
//!
//! The engine is layered:
//! - [`gpu`]: the device ([`gpu::GpuContext`]), tensors in pooled storage buffers, the
//!   pipeline cache, [`gpu::Plan`]s of recorded dispatches submitted once, async readback.
//! - [`ops`]: the op library (convolution, instance norm, element-wise ops, upsampling,
//!   pooling, Gram matrices, reductions, pixel conversions), each a WGSL kernel with a typed
//!   launcher, checked against the plain-loop oracles in [`reference`].
//! - [`models`]: model files (safetensors + metadata) and the transform nets built from ops.
//! - [`bench`]: the kernel benchmarks the `style-transfer bench` command prints.
//!
//! ```no_run
//! # async fn demo() -> webgpu_style_transfer::Result<()> {
//! use webgpu_style_transfer::{gpu::{GpuContext, Plan}, ops};
//! let ctx = GpuContext::new().await?;
//! let x = ctx.upload("x", &[1, 2, 2], &[1.0, -2.0, 3.0, -4.0])?;
//! let mut plan = Plan::new("demo");
//! let y = ops::unary(&ctx, &mut plan, &x, ops::Unary::Relu)?;
//! plan.run(&ctx).await?;
//! assert_eq!(ctx.read(&y).await?, vec![1.0, 0.0, 3.0, 0.0]);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]
// Errors carry the names, sizes and advice a person needs; they are returned rarely, so their
// size (about 140 bytes) is not worth boxing.
#![allow(clippy::result_large_err)]

pub mod bench;
pub mod blend;
pub mod clock;
pub mod error;
#[cfg(not(target_arch = "wasm32"))]
pub mod files;
pub mod gatys;
pub mod gpu;
pub mod image;
pub mod loss;
pub mod models;
pub mod ops;
pub mod optim;
pub mod reference;
pub mod train;
pub mod tune;

mod live;
#[cfg(target_arch = "wasm32")]
mod wasm;

pub use error::{Error, Result};
