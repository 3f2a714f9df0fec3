#![allow(clippy::result_large_err)] // see src/lib.rs: errors carry names and advice
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
    use std::path::{Path, PathBuf};
    use std::process::ExitCode;
    use std::time::Instant;
    use webgpu_style_transfer::image::Rgba8Image;
    use webgpu_style_transfer::models::{ModelFile, MultiStyle26, StyleWeights, StylizeOptions};
    use webgpu_style_transfer::{bench, gpu::GpuContext, Error, Result};

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
        /// Stylize photos with the 26-style net: one pass on the GPU per photo.
        Stylize {
            /// Photos (PNG or JPEG, any colour type).
            #[arg(required = true)]
            inputs: Vec<PathBuf>,
            /// Output file (.png, .jpg) for one photo, or a directory for several.
            #[arg(short, long)]
            output: PathBuf,
            /// A style index (0-25) or a blend such as 3:0.5,12:0.5.
            #[arg(short, long, default_value = "0")]
            style: String,
            /// A converted multistyle26 model (default: models/multistyle26.safetensors).
            #[arg(long)]
            model: Option<PathBuf>,
            /// How much style: 1 = full, 0 = the photo.
            #[arg(long, default_value_t = 1.0)]
            strength: f32,
            /// Keep the photo's colours (stylized luminance, photo chroma).
            #[arg(long)]
            preserve_colors: bool,
            /// Scale photos down so their longer side is at most this many pixels (0 = keep).
            #[arg(long, default_value_t = 1024)]
            max_size: usize,
            /// Replace output files that already exist.
            #[arg(long)]
            force: bool,
        },
        /// List the built-in styles of the 26-style net.
        Styles,
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
        /// The 26-style net, milliseconds per image at 256, 512 and 1024 px.
        Multistyle,
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

    /// The model file: `--model`, else `$STYLE_TRANSFER_MODELS/NAME`, else `models/NAME` in the
    /// current directory or in the source tree the binary was built from.
    fn find_model(explicit: Option<PathBuf>, name: &str) -> Result<PathBuf> {
        if let Some(p) = explicit {
            return if p.is_file() {
                Ok(p)
            } else {
                Err(Error::Model(format!("{}: no such file", p.display())))
            };
        }
        let mut candidates = Vec::new();
        if let Some(dir) = std::env::var_os("STYLE_TRANSFER_MODELS") {
            candidates.push(PathBuf::from(dir).join(name));
        }
        candidates.push(PathBuf::from("models").join(name));
        candidates.push(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("models")
                .join(name),
        );
        candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| {
            Error::Model(format!("{name} not found in $STYLE_TRANSFER_MODELS, ./models or the source tree; run `npm run setup` (or tools/convert_models.py), or pass --model"))
        })
    }

    /// Where each input's result goes, refusing to replace files unless `force`.
    fn outputs(inputs: &[PathBuf], output: &Path, force: bool) -> Result<Vec<PathBuf>> {
        let invalid = |message: String| Error::InvalidArgument {
            op: "stylize",
            message,
        };
        let targets: Vec<PathBuf> = if inputs.len() == 1 && !output.is_dir() {
            vec![output.to_path_buf()]
        } else {
            if output.exists() && !output.is_dir() {
                return Err(invalid(format!(
                    "{} inputs need -o to be a directory, and {} is a file",
                    inputs.len(),
                    output.display()
                )));
            }
            std::fs::create_dir_all(output)
                .map_err(|e| invalid(format!("{}: {e}", output.display())))?;
            inputs
                .iter()
                .map(|i| {
                    output
                        .join(i.file_stem().unwrap_or_default())
                        .with_extension("png")
                })
                .collect()
        };
        for t in &targets {
            if t.exists() && !force {
                return Err(invalid(format!(
                    "{} already exists; pass --force to replace it",
                    t.display()
                )));
            }
        }
        Ok(targets)
    }

    async fn run(cli: Cli) -> Result<()> {
        if let Command::Styles = cli.command {
            println!("The 26-style net (Magenta image_stylization, Dumoulin et al. 2017) knows styles 0 to 25.");
            println!("Pick one with --style N, or blend several: --style 3:0.5,12:0.5 (weights are normalised).");
            return Ok(());
        }
        let ctx = GpuContext::new().await?;
        match cli.command {
            Command::Styles => unreachable!("handled above"),
            Command::Stylize {
                inputs,
                output,
                style,
                model,
                strength,
                preserve_colors,
                max_size,
                force,
            } => {
                let style = StyleWeights::parse(&style)?;
                let targets = outputs(&inputs, &output, force)?;
                let path = find_model(model, "multistyle26.safetensors")?;
                let bytes = std::fs::read(&path)
                    .map_err(|e| Error::Model(format!("{}: {e}", path.display())))?;
                let net = MultiStyle26::load(&ctx, &ModelFile::parse(&bytes)?)?;
                let opts = StylizeOptions {
                    style,
                    strength,
                    preserve_colors,
                    max_size,
                };
                for (i, (input, target)) in inputs.iter().zip(&targets).enumerate() {
                    let bytes = std::fs::read(input)
                        .map_err(|e| Error::Image(format!("{}: {e}", input.display())))?;
                    let photo = Rgba8Image::decode(&bytes)
                        .map_err(|e| Error::Image(format!("{}: {e}", input.display())))?;
                    let start = Instant::now();
                    let out = net.stylize(&ctx, &photo, &opts).await?;
                    out.save(target)?;
                    println!(
                        "[{}/{}] {} -> {} ({}x{}, {:.0} ms)",
                        i + 1,
                        inputs.len(),
                        input.display(),
                        target.display(),
                        out.width,
                        out.height,
                        start.elapsed().as_secs_f64() * 1e3
                    );
                }
            }
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
                what: BenchWhat::Multistyle,
                runs,
                ..
            } => {
                let path = find_model(None, "multistyle26.safetensors")?;
                let bytes = std::fs::read(&path)
                    .map_err(|e| Error::Model(format!("{}: {e}", path.display())))?;
                let net = MultiStyle26::load(&ctx, &ModelFile::parse(&bytes)?)?;
                let start = Instant::now();
                let now = move || start.elapsed().as_secs_f64() * 1e3;
                let rows =
                    bench::multistyle_table(&ctx, &net, &[256, 512, 1024], runs.max(1), &now)
                        .await?;
                let a = ctx.adapter();
                println!(
                    "Adapter: {} ({})\n\n| size | ms per image |\n|---|---:|",
                    a.name, a.backend
                );
                for (size, ms) in rows {
                    println!("| {size}x{size} | {ms:.0} |");
                }
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
