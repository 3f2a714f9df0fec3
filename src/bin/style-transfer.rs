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
    use indicatif::{ProgressBar, ProgressStyle};
    use std::io::Write;
    use std::path::{Path, PathBuf};
    use std::process::ExitCode;
    use std::time::Instant;
    use webgpu_style_transfer::gatys::{Gatys, GatysOptions, Init, LossWeights, Optimizer};
    use webgpu_style_transfer::image::Rgba8Image;
    use webgpu_style_transfer::models::{
        ArbitraryNet, ArbitraryOptions, JohnsonNet, JohnsonOptions, ModelFile, MultiStyle26,
        StyleVector, StyleWeights, StylizeOptions,
    };
    use webgpu_style_transfer::ops::PoolMode;
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

    // Parsed once per process; boxing the large variant would buy nothing.
    #[allow(clippy::large_enum_variant)]
    #[derive(Subcommand)]
    enum Command {
        /// Stylize photos with a transform net: one pass on the GPU per photo. The 26-style net
        /// by default; --style-image PAINTING takes the style of any painting (arbitrary-style
        /// net); --model FILE may also be a converted Johnson net (one style).
        Stylize {
            /// Photos (PNG or JPEG, any colour type).
            #[arg(required = true)]
            inputs: Vec<PathBuf>,
            /// Output file (.png, .jpg) for one photo, or a directory for several.
            #[arg(short, long)]
            output: PathBuf,
            /// A style index (0-25) or a blend such as 3:0.5,12:0.5 (26-style net; default 0).
            #[arg(short, long)]
            style: Option<String>,
            /// Any painting as the style (arbitrary-style net, models/arbitrary.safetensors).
            /// Repeat it to blend several paintings' style vectors.
            #[arg(long, value_name = "PAINTING")]
            style_image: Vec<PathBuf>,
            /// Blend weights for several --style-image paintings, e.g. 0.7,0.3 (default equal).
            #[arg(long, value_name = "W1,W2,...")]
            style_blend: Option<String>,
            /// A converted model: multistyle26 (default: models/multistyle26.safetensors), the
            /// arbitrary pair (default with --style-image) or a Johnson net
            /// (tools/convert_models.py johnson NET.pth|NET.onnx OUT.safetensors).
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
            /// Process images in tiles of this many pixels, with instance-norm statistics over
            /// the whole image (the result equals an untiled run). 0: only when an image is too
            /// large for the device, with the largest tile that fits.
            #[arg(long, default_value_t = 0, value_name = "PX")]
            tile: usize,
            /// Replace output files that already exist.
            #[arg(long)]
            force: bool,
        },
        /// Gatys optimisation: optimise the image itself through VGG19 so that it keeps the
        /// photo's content and takes the paintings' style (slow; any style).
        Gatys {
            /// The photo (PNG or JPEG).
            content: PathBuf,
            /// One or more style images (paintings).
            #[arg(required = true)]
            styles: Vec<PathBuf>,
            /// Output file (.png, .jpg).
            #[arg(short, long)]
            output: PathBuf,
            /// Longer side of the result in pixels.
            #[arg(long, default_value_t = 512)]
            size: usize,
            /// Iterations (per stage with --scales).
            #[arg(long, default_value_t = 1000)]
            iterations: usize,
            /// The optimiser.
            #[arg(long, value_enum, default_value = "lbfgs")]
            optimizer: OptimizerArg,
            /// Step size (default: 1 for L-BFGS, 10 for Adam).
            #[arg(long)]
            learning_rate: Option<f32>,
            /// L-BFGS history: pairs kept (neural-style uses 100; each costs two image-sized
            /// buffers).
            #[arg(long, default_value_t = 20)]
            history: usize,
            /// Content weight.
            #[arg(long, default_value_t = 5.0)]
            content_weight: f32,
            /// Style weight.
            #[arg(long, default_value_t = 100.0)]
            style_weight: f32,
            /// Total-variation weight.
            #[arg(long, default_value_t = 1e-3)]
            tv_weight: f32,
            /// Start from `noise`, `content`, or an image file.
            #[arg(long, default_value = "noise")]
            init: String,
            /// Seed of the noise init.
            #[arg(long, default_value_t = 0)]
            seed: u64,
            /// Blend weights of the style images, e.g. 0.7,0.3 (normalised).
            #[arg(long, value_delimiter = ',')]
            style_blend_weights: Vec<f32>,
            /// Style images are scaled to a longer side of style-scale x size.
            #[arg(long, default_value_t = 1.0)]
            style_scale: f32,
            /// Style layers (comma-separated VGG19 layer names).
            #[arg(
                long,
                value_delimiter = ',',
                default_value = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1"
            )]
            style_layers: Vec<String>,
            /// Weights of the style layers, one per layer (default all 1).
            #[arg(long, value_delimiter = ',')]
            style_layer_weights: Vec<f32>,
            /// Content layers (comma-separated).
            #[arg(long, value_delimiter = ',', default_value = "relu4_2")]
            content_layers: Vec<String>,
            /// Pooling in VGG19: max (as trained) or avg (as in Gatys et al.).
            #[arg(long, value_enum, default_value = "max")]
            pooling: PoolingArg,
            /// Keep the photo's colours (the result's luminance, the photo's chroma).
            #[arg(long)]
            preserve_colors: bool,
            /// Multi-scale stages, e.g. 256,512: each starts from the previous result upscaled.
            #[arg(long, value_delimiter = ',')]
            scales: Vec<usize>,
            /// Also save the image every N iterations (OUTPUT_iterN.png).
            #[arg(long, default_value_t = 0)]
            save_every: usize,
            /// Write one JSON object per iteration (losses, each already weighted) to FILE.
            #[arg(long)]
            log_json: Option<PathBuf>,
            /// A converted vgg19 model (default: models/vgg19.safetensors).
            #[arg(long)]
            model: Option<PathBuf>,
            /// Replace the output (and log) files if they exist.
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
            /// Sizes for `bench gatys` (comma-separated).
            #[arg(long, value_delimiter = ',', default_value = "128,256,512")]
            sizes: Vec<usize>,
            /// Iterations timed per size for `bench gatys`.
            #[arg(long, default_value_t = 10)]
            iterations: usize,
            /// The model for `bench johnson`.
            #[arg(long)]
            model: Option<PathBuf>,
        },
    }

    /// The net a `stylize` runs, with its options.
    enum Net {
        Multi(MultiStyle26, StylizeOptions),
        Johnson(JohnsonNet, JohnsonOptions),
        Arbitrary(ArbitraryNet, ArbitraryOptions),
    }

    #[derive(Clone, Copy, clap::ValueEnum)]
    enum OptimizerArg {
        /// L-BFGS without line search (neural-style's default).
        Lbfgs,
        /// Adam (beta1 0.99, beta2 0.999, eps 1e-8).
        Adam,
    }

    #[derive(Clone, Copy, clap::ValueEnum)]
    enum PoolingArg {
        /// Max pooling.
        Max,
        /// Average pooling.
        Avg,
    }

    #[derive(Clone, Copy, clap::ValueEnum)]
    enum BenchWhat {
        /// Convolution kernels, naive against tiled, in GFLOP/s.
        Conv,
        /// The 26-style net, milliseconds per image at 256, 512 and 1024 px.
        Multistyle,
        /// Gatys optimisation, iterations per second and peak GPU memory at --sizes.
        Gatys,
        /// A converted Johnson net (--model FILE), milliseconds per image at 256, 512, 1024 px.
        Johnson,
        /// The arbitrary-style pair: transformer ms per image at 256, 512, 1024 px; predictor.
        Arbitrary,
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

    fn read_image(path: &Path) -> Result<Rgba8Image> {
        let bytes =
            std::fs::read(path).map_err(|e| Error::Image(format!("{}: {e}", path.display())))?;
        Rgba8Image::decode(&bytes).map_err(|e| Error::Image(format!("{}: {e}", path.display())))
    }

    fn load_model(explicit: Option<PathBuf>, name: &str) -> Result<ModelFile> {
        let path = find_model(explicit, name)?;
        let bytes =
            std::fs::read(&path).map_err(|e| Error::Model(format!("{}: {e}", path.display())))?;
        ModelFile::parse(&bytes)
    }

    /// Refuses to replace an existing file unless `force`.
    fn check_new(path: &Path, force: bool, op: &'static str) -> Result<()> {
        if path.exists() && !force {
            return Err(Error::InvalidArgument {
                op,
                message: format!(
                    "{} already exists; pass --force to replace it",
                    path.display()
                ),
            });
        }
        Ok(())
    }

    /// `OUTPUT_iterN.ext` beside the output.
    fn snapshot_path(output: &Path, iteration: usize, stage: Option<usize>) -> PathBuf {
        let stem = output.file_stem().unwrap_or_default().to_string_lossy();
        let ext = output.extension().unwrap_or_default().to_string_lossy();
        let name = match stage {
            Some(s) => format!("{stem}_stage{}_iter{iteration}.{ext}", s + 1),
            None => format!("{stem}_iter{iteration}.{ext}"),
        };
        output.with_file_name(name)
    }

    async fn run(cli: Cli) -> Result<()> {
        if let Command::Styles = cli.command {
            println!("The 26-style net (Magenta image_stylization, Dumoulin et al. 2017) knows styles 0 to 25.");
            println!("Pick one with --style N, or blend several: --style 3:0.5,12:0.5 (weights are normalised).");
            println!("Or take the style of any painting: --style-image PAINTING (arbitrary-style net, Ghiasi et al. 2017).");
            return Ok(());
        }
        let ctx = GpuContext::new().await?;
        match cli.command {
            Command::Styles => unreachable!("handled above"),
            Command::Stylize {
                inputs,
                output,
                style,
                style_image,
                style_blend,
                model,
                strength,
                preserve_colors,
                max_size,
                tile,
                force,
            } => {
                let invalid = |message: String| Error::InvalidArgument {
                    op: "stylize",
                    message,
                };
                let targets = outputs(&inputs, &output, force)?;
                if !style_image.is_empty() && style.is_some() {
                    return Err(invalid("--style picks one of the 26 built-in styles and --style-image takes the style of a painting; give one of them".into()));
                }
                if style_blend.is_some() && style_image.len() < 2 {
                    return Err(invalid(
                        "--style-blend weighs several --style-image paintings; give at least two"
                            .into(),
                    ));
                }
                let default_model = if style_image.is_empty() {
                    "multistyle26.safetensors"
                } else {
                    "arbitrary.safetensors"
                };
                let file = load_model(model, default_model)?;
                if !style_image.is_empty() && file.family() != "arbitrary" {
                    return Err(invalid(format!("--style-image needs the arbitrary-style model, and this is a '{}' model; drop --model or pass models/arbitrary.safetensors", file.family())));
                }
                let net = match file.family() {
                    "arbitrary" => {
                        if style_image.is_empty() {
                            return Err(invalid("the arbitrary-style net takes its style from a painting: pass --style-image PAINTING".into()));
                        }
                        let net = ArbitraryNet::load(&ctx, &file)?;
                        let weights: Vec<f32> = match &style_blend {
                            Some(b) => b
                                .split(',')
                                .map(|w| w.trim().parse::<f32>())
                                .collect::<std::result::Result<_, _>>()
                                .map_err(|_| invalid(format!("--style-blend '{b}' is not a list of numbers such as 0.7,0.3")))?,
                            None => vec![1.0; style_image.len()],
                        };
                        if weights.len() != style_image.len() {
                            return Err(invalid(format!(
                                "--style-blend has {} weights for {} paintings",
                                weights.len(),
                                style_image.len()
                            )));
                        }
                        let mut vectors = Vec::new();
                        for p in &style_image {
                            vectors.push(net.style_vector(&ctx, &read_image(p)?).await?);
                        }
                        let parts: Vec<_> = vectors.iter().zip(weights).collect();
                        let style = StyleVector::blend(&parts)?;
                        let opts = ArbitraryOptions {
                            style,
                            strength,
                            preserve_colors,
                            max_size,
                            tile,
                        };
                        Net::Arbitrary(net, opts)
                    }
                    "johnson" => {
                        if style.is_some() {
                            return Err(Error::InvalidArgument {
                                op: "stylize",
                                message: "this Johnson net has one style of its own; drop --style (it chooses among the 26-style net's styles)".into(),
                            });
                        }
                        Net::Johnson(
                            JohnsonNet::load(&ctx, &file)?,
                            JohnsonOptions {
                                strength,
                                preserve_colors,
                                max_size,
                                tile,
                            },
                        )
                    }
                    _ => Net::Multi(
                        MultiStyle26::load(&ctx, &file)?,
                        StylizeOptions {
                            style: StyleWeights::parse(style.as_deref().unwrap_or("0"))?,
                            strength,
                            preserve_colors,
                            max_size,
                            tile,
                        },
                    ),
                };
                // A bar for batches (drawn only on a terminal); one line per photo either way.
                let bar = if inputs.len() > 1 {
                    ProgressBar::new(inputs.len() as u64)
                } else {
                    ProgressBar::hidden()
                };
                bar.set_style(
                    ProgressStyle::with_template(
                        "{bar:30} {pos}/{len} [{elapsed_precise}, eta {eta}] {msg}",
                    )
                    .expect("a valid template"),
                );
                for (i, (input, target)) in inputs.iter().zip(&targets).enumerate() {
                    bar.set_message(input.display().to_string());
                    let bytes = std::fs::read(input)
                        .map_err(|e| Error::Image(format!("{}: {e}", input.display())))?;
                    let photo = Rgba8Image::decode(&bytes)
                        .map_err(|e| Error::Image(format!("{}: {e}", input.display())))?;
                    let start = Instant::now();
                    let out = match &net {
                        Net::Multi(n, o) => n.stylize(&ctx, &photo, o).await?,
                        Net::Johnson(n, o) => n.stylize(&ctx, &photo, o).await?,
                        Net::Arbitrary(n, o) => n.stylize(&ctx, &photo, o).await?,
                    };
                    out.save(target)?;
                    let line = format!(
                        "[{}/{}] {} -> {} ({}x{}, {:.0} ms)",
                        i + 1,
                        inputs.len(),
                        input.display(),
                        target.display(),
                        out.width,
                        out.height,
                        start.elapsed().as_secs_f64() * 1e3
                    );
                    if bar.is_hidden() {
                        println!("{line}");
                    } else {
                        bar.println(line);
                    }
                    bar.inc(1);
                }
                bar.finish_and_clear();
            }
            Command::Gatys {
                content,
                styles,
                output,
                size,
                iterations,
                optimizer,
                learning_rate,
                history,
                content_weight,
                style_weight,
                tv_weight,
                init,
                seed,
                style_blend_weights,
                style_scale,
                style_layers,
                style_layer_weights,
                content_layers,
                pooling,
                preserve_colors,
                scales,
                save_every,
                log_json,
                model,
                force,
            } => {
                let content_img = read_image(&content)?;
                let style_imgs = styles
                    .iter()
                    .map(|p| read_image(p))
                    .collect::<Result<Vec<_>>>()?;
                let init = match init.as_str() {
                    "noise" | "random" => Init::Noise { seed },
                    "content" | "image" => Init::Content,
                    path => Init::Image(read_image(Path::new(path))?),
                };
                let optimizer = match optimizer {
                    OptimizerArg::Lbfgs => Optimizer::Lbfgs {
                        learning_rate: 1.0,
                        history,
                    },
                    OptimizerArg::Adam => Optimizer::adam(),
                }
                .with_learning_rate(learning_rate);
                let layer_weights = if style_layer_weights.is_empty() {
                    vec![1.0; style_layers.len()]
                } else {
                    style_layer_weights
                };
                let opts = GatysOptions {
                    size,
                    scales,
                    iterations,
                    optimizer,
                    weights: LossWeights {
                        content: content_weight,
                        style: style_weight,
                        tv: tv_weight,
                        content_layers,
                        style_layers,
                        layer_weights,
                    },
                    style_scale,
                    style_blend: style_blend_weights,
                    init,
                    preserve_colors,
                    report_every: 1,
                    preview_every: save_every,
                };
                opts.validate(style_imgs.len())?;
                check_new(&output, force, "gatys")?;
                if save_every > 0 {
                    let multi = opts.stages().len() > 1;
                    for stage in 0..opts.stages().len() {
                        for it in (save_every..=iterations).step_by(save_every) {
                            let path = snapshot_path(&output, it, multi.then_some(stage));
                            check_new(&path, force, "gatys")?;
                        }
                    }
                }
                // Fail on an unknown extension now, not after the run.
                match output
                    .extension()
                    .and_then(|e| e.to_str())
                    .map(str::to_lowercase)
                {
                    Some(e) if ["png", "jpg", "jpeg"].contains(&e.as_str()) => {}
                    _ => {
                        return Err(Error::Image(format!(
                            "{}: unknown output format; use a .png, .jpg or .jpeg file name",
                            output.display()
                        )))
                    }
                }
                let mut log = match &log_json {
                    Some(p) => {
                        check_new(p, force, "gatys")?;
                        Some(std::io::BufWriter::new(std::fs::File::create(p).map_err(
                            |e| Error::InvalidArgument {
                                op: "gatys",
                                message: format!("{}: {e}", p.display()),
                            },
                        )?))
                    }
                    None => None,
                };
                let pooling = match pooling {
                    PoolingArg::Max => PoolMode::Max,
                    PoolingArg::Avg => PoolMode::Avg,
                };
                let gatys = Gatys::new(&ctx, &load_model(model, "vgg19.safetensors")?, pooling)?;
                let stages = opts.stages();
                for &side in &stages {
                    let est = gatys.check_fits(&ctx, &content_img, &style_imgs, &opts, side)?;
                    eprintln!(
                        "{side} px: about {:.0} MiB of GPU memory (largest buffer {:.0} MiB)",
                        est.total_bytes as f64 / 1048576.0,
                        est.largest_buffer.0 as f64 / 1048576.0
                    );
                }
                let bar = ProgressBar::new((iterations * stages.len()) as u64);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{bar:30} {pos}/{len} [{elapsed_precise}] {per_sec} {msg}",
                    )
                    .expect("a valid template"),
                );
                let multi = stages.len() > 1;
                let mut io_error: Option<Error> = None;
                let out = gatys
                    .run(&ctx, &content_img, &style_imgs, &opts, &mut |p| {
                        let l = p.losses;
                        bar.set_position((p.stage.0 * p.iterations + p.iteration) as u64);
                        bar.set_message(format!(
                            "loss {:.4e} (content {:.3e}, style {:.3e}, tv {:.3e}){}",
                            l.total,
                            l.content,
                            l.style,
                            l.tv,
                            if multi {
                                format!(" stage {}/{}", p.stage.0 + 1, p.stage.1)
                            } else {
                                String::new()
                            }
                        ));
                        if let Some(w) = log.as_mut() {
                            let stage = if multi {
                                format!(", \"stage\": {}, \"size\": {}", p.stage.0, p.size.0.max(p.size.1))
                            } else {
                                String::new()
                            };
                            let line = format!(
                                "{{\"iteration\": {}, \"total\": {}, \"content\": {}, \"style\": {}, \"tv\": {}, \"elapsed_ms\": {:.1}{stage}}}",
                                p.iteration, l.total, l.content, l.style, l.tv, p.elapsed_ms
                            );
                            if let Err(e) = writeln!(w, "{line}") {
                                io_error = Some(Error::InvalidArgument { op: "gatys", message: format!("writing the log: {e}") });
                                return false;
                            }
                        }
                        if let Some(img) = p.preview {
                            if p.iteration > 0 {
                                let path = snapshot_path(&output, p.iteration, multi.then_some(p.stage.0));
                                if let Err(e) = img.save(&path) {
                                    io_error = Some(e);
                                    return false;
                                }
                            }
                        }
                        true
                    })
                    .await;
                bar.finish_and_clear();
                if let Some(e) = io_error {
                    return Err(e);
                }
                let out = out?;
                if let Some(mut w) = log {
                    w.flush().map_err(|e| Error::InvalidArgument {
                        op: "gatys",
                        message: format!("writing the log: {e}"),
                    })?;
                }
                out.image.save(&output)?;
                let l = out.losses.expect("at least one report");
                println!(
                    "{} -> {} ({}x{}, {} iterations, loss {:.4e}: content {:.4e}, style {:.4e}, tv {:.4e})",
                    content.display(),
                    output.display(),
                    out.image.width,
                    out.image.height,
                    out.iterations,
                    l.total,
                    l.content,
                    l.style,
                    l.tv
                );
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
                let net = MultiStyle26::load(&ctx, &load_model(None, "multistyle26.safetensors")?)?;
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
                what: BenchWhat::Johnson,
                runs,
                model,
                ..
            } => {
                let Some(model) = model else {
                    return Err(Error::InvalidArgument {
                        op: "bench johnson",
                        message: "give the converted net with --model FILE".into(),
                    });
                };
                let net = JohnsonNet::load(&ctx, &load_model(Some(model), "")?)?;
                let start = Instant::now();
                let now = move || start.elapsed().as_secs_f64() * 1e3;
                let rows =
                    bench::johnson_table(&ctx, &net, &[256, 512, 1024], runs.max(1), &now).await?;
                let a = ctx.adapter();
                println!(
                    "Adapter: {} ({})\n\n| size | ms per image |\n|---|---:|",
                    a.name, a.backend
                );
                for (size, ms) in rows {
                    println!("| {size}x{size} | {ms:.1} |");
                }
            }
            Command::Bench {
                what: BenchWhat::Arbitrary,
                runs,
                model,
                ..
            } => {
                let net = ArbitraryNet::load(&ctx, &load_model(model, "arbitrary.safetensors")?)?;
                let start = Instant::now();
                let now = move || start.elapsed().as_secs_f64() * 1e3;
                let (rows, predictor_ms) =
                    bench::arbitrary_table(&ctx, &net, &[256, 512, 1024], runs.max(1), &now)
                        .await?;
                let a = ctx.adapter();
                println!(
                    "Adapter: {} ({})

| size | transformer ms per image |
|---|---:|",
                    a.name, a.backend
                );
                for (size, ms) in rows {
                    println!("| {size}x{size} | {ms:.1} |");
                }
                println!(
                    "
Style predictor (256x256 painting, with its 5 KB read-back): {predictor_ms:.1} ms"
                );
            }
            Command::Bench {
                what: BenchWhat::Gatys,
                sizes,
                iterations,
                ..
            } => {
                let gatys =
                    Gatys::new(&ctx, &load_model(None, "vgg19.safetensors")?, PoolMode::Max)?;
                let rows = bench::gatys_table(&ctx, &gatys, &sizes, iterations).await?;
                let a = ctx.adapter();
                println!(
                    "Adapter: {} ({})\n\n| size | optimizer | ms per iteration | iterations/s | peak GPU memory |\n|---|---|---:|---:|---:|",
                    a.name, a.backend
                );
                for r in rows {
                    println!(
                        "| {0}x{0} | {1} | {2:.1} | {3:.2} | {4:.0} MiB |",
                        r.size,
                        r.optimizer,
                        r.ms_per_iteration,
                        1e3 / r.ms_per_iteration,
                        r.peak_bytes as f64 / 1048576.0
                    );
                }
            }
            Command::Bench {
                what: BenchWhat::Conv,
                runs,
                case,
                ..
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
