#![allow(clippy::result_large_err)] // see src/lib.rs: errors carry names and advice
//! `style-transfer`: the native command line of the engine. One module per command; the
//! shared parts (reading inputs, checking outputs, printing to stdout, Ctrl-C) have one
//! module each.

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod bench;
#[cfg(not(target_arch = "wasm32"))]
mod gatys;
#[cfg(not(target_arch = "wasm32"))]
mod input;
#[cfg(not(target_arch = "wasm32"))]
mod interrupt;
#[cfg(not(target_arch = "wasm32"))]
mod profile;
#[cfg(not(target_arch = "wasm32"))]
mod stdout;
#[cfg(not(target_arch = "wasm32"))]
mod stylize;
#[cfg(not(target_arch = "wasm32"))]
mod train;
#[cfg(not(target_arch = "wasm32"))]
mod tuning;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    native::main()
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use clap::{Parser, Subcommand};
    use std::process::ExitCode;
    use webgpu_style_transfer::error::fmt_bytes;
    use webgpu_style_transfer::{gpu::GpuContext, Result};

    use crate::stdout::say;

    #[derive(Parser)]
    #[command(
        name = "style-transfer",
        version,
        about = "Neural style transfer on the GPU (wgpu: Vulkan, Metal, DX12, GL)"
    )]
    struct Cli {
        #[command(subcommand)]
        command: Command,
        #[command(flatten)]
        tune: crate::tuning::TuneArgs,
    }

    #[derive(Subcommand)]
    enum Command {
        /// Stylize photos with a transform net: one pass on the GPU per photo. The 26-style net
        /// by default; --style-image PAINTING takes the style of any painting (arbitrary-style
        /// net); --model FILE may also be a converted Johnson net (one style).
        Stylize(crate::stylize::StylizeArgs),
        /// Gatys optimisation: optimise the image itself through VGG19 so that it keeps the
        /// photo's content and takes the paintings' style (slow; any style). Ctrl-C stops it
        /// and saves the picture so far.
        Gatys(crate::gatys::GatysArgs),
        /// Learn a new style for the 26-style net from a painting and a folder of photos (its
        /// convolutions frozen, one row of norm parameters trained). Ctrl-C writes a
        /// checkpoint; --resume continues it.
        Train(crate::train::TrainArgs),
        /// List the built-in styles of the 26-style net.
        Styles,
        /// Show the GPU adapter (name, backend, driver, limits, features) and the kernel choices
        /// tuned on it.
        Info,
        /// Run a benchmark and print its table.
        Bench(crate::bench::BenchArgs),
        /// Time a net dispatch by dispatch (kernel, output shape, ms, GFLOP/s, share) to see
        /// where its time goes on this GPU.
        Profile(crate::profile::ProfileArgs),
    }

    pub fn main() -> ExitCode {
        let cli = Cli::parse();
        let result = pollster::block_on(run(cli));
        // A closed stdout (`| head`) is not an error; a full one (`> /dev/full`) is.
        let result = result.and_then(|()| crate::stdout::check());
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    }

    async fn run(cli: Cli) -> Result<()> {
        if let Command::Styles = cli.command {
            styles();
            return Ok(());
        }
        let ctx = GpuContext::new().await?;
        let tuning = crate::tuning::Tuning::setup(&ctx, &cli.tune)?;
        match cli.command {
            Command::Styles => unreachable!("handled above"),
            Command::Stylize(args) => crate::stylize::run(&ctx, args, &tuning).await,
            Command::Gatys(args) => crate::gatys::run(&ctx, args, &tuning).await,
            Command::Train(args) => crate::train::run(&ctx, args, &tuning).await,
            Command::Bench(args) => crate::bench::run(&ctx, args, &tuning).await,
            Command::Profile(args) => crate::profile::run(&ctx, args, &tuning).await,
            Command::Info => {
                info(&ctx);
                crate::tuning::describe(&ctx)
            }
        }
    }

    fn styles() {
        say("The 26-style net (Magenta image_stylization, Dumoulin et al. 2017) knows styles 0 to 25.");
        say("Pick one with --style N, or blend several: --style 3:0.5,12:0.5 (weights are normalised).");
        say("Or take the style of any painting: --style-image PAINTING (arbitrary-style net, Ghiasi et al. 2017).");
    }

    fn info(ctx: &GpuContext) {
        let a = ctx.adapter();
        let l = &a.limits;
        say(&format!("adapter:      {}", a.name));
        say(&format!("backend:      {}", a.backend));
        say(&format!("type:         {}", a.device_type));
        say(&format!("driver:       {}", a.driver));
        say(&format!(
            "shader-f16:   {}",
            if a.shader_f16 { "yes" } else { "no" }
        ));
        say(&format!(
            "timestamps:   {}",
            if a.timestamps { "yes" } else { "no" }
        ));
        say(&format!(
            "subgroups:    {}",
            match a.subgroup_sizes {
                Some((min, max)) if min == max => format!("{min} lanes"),
                Some((min, max)) => format!("{min}-{max} lanes"),
                None => "no".to_string(),
            }
        ));
        say("limits:");
        for (name, value) in [
            (
                "maxStorageBufferBindingSize",
                fmt_bytes(l.max_storage_buffer_binding_size),
            ),
            ("maxBufferSize", fmt_bytes(l.max_buffer_size)),
            (
                "maxComputeWorkgroupStorageSize",
                fmt_bytes(l.max_compute_workgroup_storage_size as u64),
            ),
            (
                "maxComputeInvocationsPerWorkgroup",
                l.max_compute_invocations_per_workgroup.to_string(),
            ),
            (
                "maxComputeWorkgroupsPerDimension",
                l.max_compute_workgroups_per_dimension.to_string(),
            ),
            (
                "maxStorageBuffersPerShaderStage",
                l.max_storage_buffers_per_shader_stage.to_string(),
            ),
        ] {
            say(&format!("  {name:<33} {value}"));
        }
    }
}
