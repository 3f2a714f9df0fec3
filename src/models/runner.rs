//! Running a transform net on a photo: whole ([`super::whole`]) or, when the image is too large
//! for the device or tiles are asked for, in tiles ([`super::tiled`]); then strength and colour
//! preservation. One run of a net at a time.

use futures_util::lock::Mutex;

use super::net::{Net, OutputOptions, Progress};
use super::tiled::{self, TiledCache};
use super::whole::{self, Submitted, WholeCache};
use crate::gpu::GpuContext;
use crate::image::{compose, Rgba8Image};
use crate::Result;

/// A net's recorded plans (whole images by padded size, tiled ones by size and tile) and its
/// turn to run.
#[derive(Default)]
pub(crate) struct Plans {
    whole: WholeCache,
    tiled: TiledCache,
    /// Held from writing a run's input and style until its output is read back (or handed to
    /// the presenter): a run's buffers and the net's style parameters are shared by every run,
    /// and a tiled run waits between its parts, where another run would overwrite them.
    turn: Mutex<()>,
}

/// A net that runs here: its recorded plans, and how a style reaches its parameters.
pub(crate) trait Runnable: Net {
    /// What picks the net's style (`()` for a net with one style).
    type Style: ?Sized;
    /// The net's recorded plans and turn.
    fn plans(&self) -> &Plans;
    /// Writes the style's parameters for the following runs (ordered after work submitted).
    fn set_style(&self, ctx: &GpuContext, style: &Self::Style) -> Result<()>;
}

/// Stylizes a photo of any size with `net` in `style`: scales it to `opts.max_size`, runs the
/// net whole or in tiles (`progress` hears from tiled runs), crops back and applies strength
/// and colour preservation.
pub(crate) async fn stylize<N: Runnable>(
    ctx: &GpuContext,
    net: &N,
    photo: &Rgba8Image,
    style: &N::Style,
    opts: &OutputOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Rgba8Image> {
    opts.validate()?;
    let plans = net.plans();
    let set_style = || net.set_style(ctx, style);
    let photo = photo.clone().fit_within(opts.max_size);
    let tile = tiled::tile_for(ctx, (photo.width, photo.height), opts.tile)?;
    let _turn = plans.turn.lock().await;
    let planes = match tile {
        Some(tile) => tiled::run(ctx, net, &plans.tiled, &photo, tile, set_style, progress).await?,
        None => {
            let run = whole::submit(ctx, net, &plans.whole, &photo, set_style)?;
            whole::read(ctx, &run).await?
        }
    };
    Ok(compose(
        &planes,
        &photo,
        opts.strength,
        opts.preserve_colors,
    ))
}

/// Runs `net` on the whole photo (scaled to `max_size`) without reading back, for live output.
/// The caller must use the output before anything else runs the net (in the browser: before
/// its next await).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) async fn submit<N: Runnable>(
    ctx: &GpuContext,
    net: &N,
    photo: &Rgba8Image,
    style: &N::Style,
    max_size: usize,
) -> Result<Submitted> {
    let photo = photo.clone().fit_within(max_size);
    let plans = net.plans();
    let _turn = plans.turn.lock().await;
    whole::submit(ctx, net, &plans.whole, &photo, || net.set_style(ctx, style))
}
