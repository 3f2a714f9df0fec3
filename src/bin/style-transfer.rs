//! `style-transfer`: the native command line of the engine.

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    native::main()
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use clap::{Parser, Subcommand};
    use std::process::ExitCode;
    use std::time::Instant;
    use webgpu_style_transfer::{bench, gpu::GpuContext, Result};

    #[derive(Parser)]
    #[command(
        name = "style-transfer",
        version,
        about = "Neural style transfer on the GPU (wgpu: Vulkan, Metal, DX12, GL)"
    )]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Subcommand)]
    enum Command {
        /// Show the GPU adapter: name, backend, driver, limits and features.
        Info,
        /// Run a benchmark and print its table.
        Bench {
            /// What to benchmark.
            #[arg(value_enum, default_value = "conv")]
            what: BenchWhat,
            /// Timed runs per kernel (after one warm-up run).
            #[arg(long, default_value_t = 10)]
            runs: usize,
            /// Only the cases whose name contains this text (e.g. "3x3").
            #[arg(long, default_value = "")]
            case: String,
        },
    }

    #[derive(Clone, Copy, clap::ValueEnum)]
    enum BenchWhat {
        /// Convolution kernels, naive against tiled, in GFLOP/s.
        Conv,
    }

    pub fn main() -> ExitCode {
        let cli = Cli::parse();
        match pollster::block_on(run(cli)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    }

    async fn run(cli: Cli) -> Result<()> {
        let ctx = GpuContext::new().await?;
        match cli.command {
            Command::Info => {
                let a = ctx.adapter();
                println!("adapter:      {}", a.name);
                println!("backend:      {}", a.backend);
                println!("type:         {}", a.device_type);
                println!("driver:       {}", a.driver);
                println!("shader-f16:   {}", if a.shader_f16 { "yes" } else { "no" });
                let l = &a.limits;
                println!("limits:");
                println!(
                    "  maxStorageBufferBindingSize       {}",
                    webgpu_style_transfer::error::fmt_bytes(l.max_storage_buffer_binding_size)
                );
                println!(
                    "  maxBufferSize                     {}",
                    webgpu_style_transfer::error::fmt_bytes(l.max_buffer_size)
                );
                println!(
                    "  maxComputeWorkgroupStorageSize    {}",
                    webgpu_style_transfer::error::fmt_bytes(
                        l.max_compute_workgroup_storage_size as u64
                    )
                );
                println!(
                    "  maxComputeInvocationsPerWorkgroup {}",
                    l.max_compute_invocations_per_workgroup
                );
                println!(
                    "  maxComputeWorkgroupsPerDimension  {}",
                    l.max_compute_workgroups_per_dimension
                );
                println!(
                    "  maxStorageBuffersPerShaderStage   {}",
                    l.max_storage_buffers_per_shader_stage
                );
            }
            Command::Bench {
                what: BenchWhat::Conv,
                runs,
                case,
            } => {
                let start = Instant::now();
                let now = move || start.elapsed().as_secs_f64() * 1e3;
                let rows = bench::conv_table(&ctx, runs.max(1), &case, &now).await?;
                let a = ctx.adapter();
                print!(
                    "{}",
                    bench::conv_markdown(&format!("{} ({})", a.name, a.backend), &rows)
                );
            }
        }
        Ok(())
    }
}
