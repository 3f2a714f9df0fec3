//! The GPU core: one [`GpuContext`] per device, [`Tensor`]s in pooled storage buffers, a
//! pipeline cache keyed by kernel and specialisation, recorded [`Dispatch`]es collected into
//! a [`Plan`] that is encoded into one command buffer and submitted once, and async readback
//! that works natively and in the browser.

mod context;
pub(crate) mod params;
mod plan;
mod plan_cache;
mod pool;
mod profile;
mod tensor;
mod tuning;

pub use context::{AdapterSummary, GpuContext, LimitsSummary, PowerPreference};
pub(crate) use plan::linear_workgroups;
pub use plan::{Binding, Dispatch, Kernel, Plan};
pub use plan_cache::{PlanCache, DEFAULT_PLAN_BUDGET};
pub use pool::PoolStats;
pub use profile::{DispatchTime, Profile, Timing};
pub use tensor::{DType, Tensor};
pub use tuning::{TuneMode, Tuned, TuningTable};
