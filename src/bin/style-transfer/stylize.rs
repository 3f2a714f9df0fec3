//! `style-transfer stylize`: photos through a transform net (26-style, arbitrary-style or a
//! Johnson net). Every output is checked before the first photo is stylized; results are
//! written atomically; a batch keeps going past a photo that fails and reports it at the end;
//! Ctrl-C stops after the photo in progress.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use webgpu_style_transfer::files::{check_dir_writable, check_writable, io_error, parent_dir};
use webgpu_style_transfer::gpu::GpuContext;
use webgpu_style_transfer::image::{OutputFormat, Rgba8Image, DEFAULT_MAX_PIXELS};
use webgpu_style_transfer::models::learned::FAMILY as LEARNED_FAMILY;
use webgpu_style_transfer::models::{
    ArbitraryNet, JohnsonNet, LearnedStyle, MultiStyle26, OutputOptions, Progress, StyleVector,
    StyleWeights, Styled,
};
use webgpu_style_transfer::{Error, Result};

use crate::input::{load_model, read_image};
use crate::stdout::say;
use crate::tuning::Tuning;

#[derive(clap::Args)]
pub struct StylizeArgs {
    /// Photos (PNG or JPEG, any colour type).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output file (.png, .jpg) for one photo, or a directory for several (results named
    /// after the photos, as PNG).
    #[arg(short, long)]
    output: PathBuf,
    /// A style index (0-25), a learned style file (style-transfer train), or a blend such as
    /// 3:0.5,12:0.5 or 3:0.3,mine.safetensors:0.7 (26-style net; default 0).
    #[arg(short, long, conflicts_with = "style_image")]
    style: Option<String>,
    /// Any painting as the style (arbitrary-style net, models/arbitrary.safetensors).
    /// Repeat it to blend several paintings' style vectors.
    #[arg(long, value_name = "PAINTING")]
    style_image: Vec<PathBuf>,
    /// Blend weights for several --style-image paintings, e.g. 0.7,0.3 (default equal).
    #[arg(long, value_name = "W1,W2,...")]
    style_blend: Option<String>,
    /// A converted model: multistyle26 (default: models/multistyle26.safetensors), the
    /// arbitrary pair (default with --style-image), a Johnson net
    /// (tools/convert_models.py johnson NET.pth|NET.onnx OUT.safetensors) or a learned style
    /// (style-transfer train), run by the 26-style net.
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
    /// Refuse images of more than this many megapixels before decoding them.
    #[arg(long, default_value_t = DEFAULT_MAX_PIXELS as f64 / 1e6, value_name = "MP")]
    max_megapixels: f64,
    /// Replace output files that already exist.
    #[arg(long)]
    force: bool,
}

impl StylizeArgs {
    fn output_options(&self) -> OutputOptions {
        OutputOptions {
            strength: self.strength,
            preserve_colors: self.preserve_colors,
            max_size: self.max_size,
            tile: self.tile,
        }
    }
}

/// The net a run uses, with its style.
enum Net {
    Multi(MultiStyle26, StyleWeights),
    Johnson(JohnsonNet),
    Arbitrary(ArbitraryNet, StyleVector),
}

impl Net {
    fn styled(&self) -> Styled<'_> {
        match self {
            Net::Multi(net, style) => Styled::MultiStyle(net, style),
            Net::Johnson(net) => Styled::Johnson(net),
            Net::Arbitrary(net, style) => Styled::Arbitrary(net, style),
        }
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidArgument {
        op: "stylize",
        message: message.into(),
    }
}

pub async fn run(ctx: &GpuContext, a: StylizeArgs, tuning: &Tuning) -> Result<()> {
    crate::interrupt::install();
    a.output_options().validate()?;
    let outputs = Outputs::plan(&a.inputs, &a.output, a.force)?;
    let net = load_net(ctx, &a, tuning).await?;
    outputs.create_dir()?;
    let bars = MultiProgress::new();
    let bar = bars.add(batch_bar(a.inputs.len()));
    let mut failed = Vec::new();
    let mut done = 0;
    for (i, (input, target)) in a.inputs.iter().zip(&outputs.targets).enumerate() {
        if crate::interrupt::requested() {
            break;
        }
        bar.set_message(input.display().to_string());
        let start = Instant::now();
        let result = stylize_one(ctx, &net, input, target, &a, &bars, tuning).await;
        let line = match &result {
            Ok(out) => format!(
                "[{}/{}] {} -> {} ({}x{}, {:.0} ms)",
                i + 1,
                a.inputs.len(),
                input.display(),
                target.display(),
                out.width,
                out.height,
                start.elapsed().as_secs_f64() * 1e3
            ),
            Err(e) => format!("[{}/{}] error: {e}", i + 1, a.inputs.len()),
        };
        match result {
            Ok(_) => {
                done += 1;
                if bar.is_hidden() {
                    say(&line);
                } else {
                    bar.println(line);
                }
            }
            Err(e) => {
                if a.inputs.len() > 1 {
                    bar.suspend(|| eprintln!("{line}"));
                }
                failed.push((input.clone(), e));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    finish(a.inputs.len(), done, failed)
}

/// The outcome of a run: the one photo's error, or for a batch how many failed.
fn finish(total: usize, done: usize, mut failed: Vec<(PathBuf, Error)>) -> Result<()> {
    let stopped = total - done - failed.len();
    if stopped > 0 {
        eprintln!(
            "interrupted: {done} of {total} photos written; the other {stopped} were not started"
        );
    }
    match failed.len() {
        0 if stopped == 0 => Ok(()),
        0 => Err(invalid("interrupted by Ctrl-C")),
        1 if total == 1 => Err(failed.remove(0).1),
        n => Err(invalid(format!(
            "{n} of {total} photos failed ({}); the other results are written",
            failed
                .iter()
                .map(|(p, _)| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

async fn stylize_one(
    ctx: &GpuContext,
    net: &Net,
    input: &Path,
    target: &Path,
    a: &StylizeArgs,
    bars: &MultiProgress,
    tuning: &Tuning,
) -> Result<Rgba8Image> {
    let photo = read_image(input, a.max_megapixels)?;
    if let Err(e) = tuning
        .tune_styled(ctx, &net.styled(), &photo, &a.output_options())
        .await
    {
        // Tuning is an optimisation: the photo is still stylized, with the fixed kernels.
        bars.suspend(|| eprintln!("warning: kernel tuning failed: {e}"));
    }
    let mut tiles: Option<ProgressBar> = None;
    let mut progress = |p: Progress| {
        let bar = tiles.get_or_insert_with(|| bars.add(tile_bar(input, &p)));
        bar.set_position(p.done as u64);
    };
    let out = net
        .styled()
        .stylize(ctx, &photo, &a.output_options(), &mut progress)
        .await;
    if let Some(bar) = tiles {
        bar.finish_and_clear();
        bars.remove(&bar);
    }
    let out = out?;
    out.save_as(target, a.force)?;
    Ok(out)
}

/// A bar for one photo run in tiles (which can take minutes), drawn only on a terminal.
fn tile_bar(input: &Path, p: &Progress) -> ProgressBar {
    let bar = ProgressBar::new(p.total as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {percent:>3}% [{elapsed_precise}, eta {eta}] {msg}")
            .expect("a valid template"),
    );
    let name = input.file_name().unwrap_or(input.as_os_str());
    bar.set_message(format!(
        "{}: {} tiles of {} px",
        name.to_string_lossy(),
        p.tiles,
        p.tile
    ));
    bar
}

/// A bar for batches (drawn only on a terminal); one line per photo either way.
fn batch_bar(photos: usize) -> ProgressBar {
    let bar = if photos > 1 {
        ProgressBar::new(photos as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} [{elapsed_precise}, eta {eta}] {msg}")
            .expect("a valid template"),
    );
    bar
}

/// Loads the net the arguments ask for and checks the style options against it.
async fn load_net(ctx: &GpuContext, a: &StylizeArgs, tuning: &Tuning) -> Result<Net> {
    if a.style_blend.is_some() && a.style_image.len() < 2 {
        return Err(invalid(
            "--style-blend weighs several --style-image paintings; give at least two",
        ));
    }
    let default_model = if a.style_image.is_empty() {
        "multistyle26.safetensors"
    } else {
        "arbitrary.safetensors"
    };
    let file = load_model(a.model.clone(), default_model)?;
    if !a.style_image.is_empty() && file.family() != "arbitrary" {
        return Err(invalid(format!("--style-image needs the arbitrary-style model, and this is a '{}' model; drop --model or pass models/arbitrary.safetensors", file.family())));
    }
    Ok(match file.family() {
        "arbitrary" => {
            let net = ArbitraryNet::load(ctx, &file)?;
            if let Err(e) = tuning.tune_predictor(ctx, &net).await {
                // Tuning is an optimisation: the painting is still read, with the fixed kernels.
                eprintln!("warning: kernel tuning failed: {e}");
            }
            let style = painting_style(ctx, &net, a).await?;
            Net::Arbitrary(net, style)
        }
        "johnson" => {
            if a.style.is_some() {
                return Err(invalid("this Johnson net has one style of its own; drop --style (it chooses among the 26-style net's styles)"));
            }
            Net::Johnson(JohnsonNet::load(ctx, &file)?)
        }
        LEARNED_FAMILY => {
            // A learned style file given as the model: the 26-style net it was trained for,
            // in that style (blended with --style's parts when given).
            let base = load_model(None, "multistyle26.safetensors")?;
            let net = MultiStyle26::load(ctx, &base)?;
            let own = LearnedStyle::from_file(&file)?;
            net.check_learned(&own)?;
            let style = parse_style(a.style.as_deref().unwrap_or(""), &net, vec![(own, 1.0)])?;
            Net::Multi(net, style)
        }
        _ => {
            let net = MultiStyle26::load(ctx, &file)?;
            let style = parse_style(a.style.as_deref().unwrap_or("0"), &net, Vec::new())?;
            Net::Multi(net, style)
        }
    })
}

/// A `--style` value: built-in styles and learned style files, each with an optional weight
/// (`3`, `3:0.5`, `mine.safetensors`, `mine.safetensors:0.5`), comma-separated. Each learned
/// style must have been trained for `net` (the same file); `learned` holds parts given
/// otherwise (a learned style passed as `--model`).
fn parse_style(
    spec: &str,
    net: &MultiStyle26,
    mut learned: Vec<(LearnedStyle, f32)>,
) -> Result<StyleWeights> {
    let mut builtin = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || {
            invalid(format!("'{item}' is not a style: give an index (19), a blend (3:0.5,12:0.5) or a learned style file (mine.safetensors:0.5)"))
        };
        let (head, weight) = match item.split_once(':') {
            Some((h, w)) => (h.trim(), Some(w.trim())),
            None => (item, None),
        };
        if let Ok(index) = head.parse::<usize>() {
            // A built-in style; StyleWeights::mix names an index out of range or a bad weight.
            let weight = weight
                .map_or(Ok(1.0), str::parse::<f32>)
                .map_err(|_| bad())?;
            builtin.push((index, weight));
            continue;
        }
        let (path, weight) = match item.rsplit_once(':') {
            Some((p, w)) if w.trim().parse::<f32>().is_ok() => (p, w.trim().parse().unwrap_or(1.0)),
            _ => (item, 1.0),
        };
        learned.push((learned_style(Path::new(path), net)?, weight));
    }
    if builtin.is_empty() && learned.is_empty() {
        return Err(invalid(format!("'{spec}' is not a style: give an index (19), a blend (3:0.5,12:0.5) or a learned style file (mine.safetensors:0.5)")));
    }
    StyleWeights::mix(&builtin, &learned)
}

/// A learned style file, checked to belong to `net`.
fn learned_style(path: &Path, net: &MultiStyle26) -> Result<LearnedStyle> {
    if !path.is_file() {
        return Err(invalid(format!(
            "'{}' is not a style: give an index (19), a blend (3:0.5,12:0.5) or a learned style file (no such file)",
            path.display()
        )));
    }
    let file = load_model(Some(path.to_path_buf()), "")?;
    let named = |e: Error| invalid(format!("{}: {e}", path.display()));
    let style = LearnedStyle::from_file(&file).map_err(named)?;
    net.check_learned(&style).map_err(named)?;
    Ok(style)
}

/// The blended style vector of the `--style-image` paintings.
async fn painting_style(
    ctx: &GpuContext,
    net: &ArbitraryNet,
    a: &StylizeArgs,
) -> Result<StyleVector> {
    if a.style_image.is_empty() {
        return Err(invalid(
            "the arbitrary-style net takes its style from a painting: pass --style-image PAINTING",
        ));
    }
    let weights: Vec<f32> = match &a.style_blend {
        Some(b) => b
            .split(',')
            .map(|w| w.trim().parse::<f32>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| {
                invalid(format!(
                    "--style-blend '{b}' is not a list of numbers such as 0.7,0.3"
                ))
            })?,
        None => vec![1.0; a.style_image.len()],
    };
    if weights.len() != a.style_image.len() {
        return Err(invalid(format!(
            "--style-blend has {} weights for {} paintings",
            weights.len(),
            a.style_image.len()
        )));
    }
    let mut vectors = Vec::new();
    for p in &a.style_image {
        let painting = read_image(p, a.max_megapixels)?;
        vectors.push(net.style_vector(ctx, &painting).await?);
    }
    let parts: Vec<_> = vectors.iter().zip(weights).collect();
    StyleVector::blend(&parts)
}

/// Where each photo's result goes, checked before any work.
struct Outputs {
    targets: Vec<PathBuf>,
    /// A batch's directory, created once everything else has been checked.
    dir: Option<PathBuf>,
}

impl Outputs {
    /// One photo into a file, or several into a directory. Every target is checked: a known
    /// format, a writable directory, no existing file unless `force`, no two photos onto the
    /// same name, and never onto one of the input photos.
    fn plan(inputs: &[PathBuf], output: &Path, force: bool) -> Result<Self> {
        if inputs.len() == 1 && !output.is_dir() {
            OutputFormat::from_path(output)?;
            check_writable(output, force)?;
            return Ok(Self {
                targets: vec![output.to_path_buf()],
                dir: None,
            });
        }
        if output.exists() && !output.is_dir() {
            return Err(invalid(format!(
                "{} inputs need -o to be a directory, and {} is a file",
                inputs.len(),
                output.display()
            )));
        }
        let targets = batch_names(inputs, output)?;
        for (t, input) in targets.iter().zip(inputs) {
            if same_file(t, input) {
                return Err(invalid(format!(
                    "the result of {} would replace that photo; choose another output directory",
                    input.display()
                )));
            }
            if t.exists() && !force {
                return Err(invalid(format!(
                    "{} already exists; pass --force to replace it",
                    t.display()
                )));
            }
        }
        // The directory itself, or where it will be created.
        if output.is_dir() {
            check_dir_writable(output)?;
        } else {
            check_dir_writable(&parent_dir(output))?;
        }
        Ok(Self {
            targets,
            dir: Some(output.to_path_buf()),
        })
    }

    fn create_dir(&self) -> Result<()> {
        match &self.dir {
            Some(d) => std::fs::create_dir_all(d)
                .map_err(|e| io_error(d, e, "choose a directory that can be created")),
            None => Ok(()),
        }
    }
}

/// `DIR/NAME.png` for each input; photos whose names would collide (`a.png` and `a.jpg`) are
/// named apart by their extension (`a_png.png`, `a_jpg.png`); names that still collide (the
/// same file name from two folders) are an error that names both.
fn batch_names(inputs: &[PathBuf], dir: &Path) -> Result<Vec<PathBuf>> {
    let stem = |p: &Path| {
        p.file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned()
    };
    let key = |name: &str| name.to_lowercase(); // case-insensitive file systems
    let mut count: HashMap<String, usize> = HashMap::new();
    for i in inputs {
        *count.entry(key(&stem(i))).or_default() += 1;
    }
    let names: Vec<String> = inputs
        .iter()
        .map(|i| {
            let s = stem(i);
            if count[&key(&s)] > 1 {
                let ext = i.extension().unwrap_or_default().to_string_lossy();
                format!("{s}_{ext}")
            } else {
                s
            }
        })
        .collect();
    let mut seen: HashMap<String, &PathBuf> = HashMap::new();
    for (name, input) in names.iter().zip(inputs) {
        if let Some(other) = seen.insert(key(name), input) {
            return Err(invalid(format!(
                "{} and {} would both be written to {}; stylize them in separate runs or rename one",
                other.display(),
                input.display(),
                dir.join(format!("{name}.png")).display()
            )));
        }
    }
    Ok(names
        .into_iter()
        .map(|n| dir.join(format!("{n}.png")))
        .collect())
}

/// Whether two paths name the same existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_names_never_collide() {
        let dir = Path::new("out");
        let names = |inputs: &[&str]| {
            let inputs: Vec<PathBuf> = inputs.iter().map(PathBuf::from).collect();
            batch_names(&inputs, dir).map(|v| {
                v.iter()
                    .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(names(&["a.png", "b.jpg"]).unwrap(), ["a.png", "b.png"]);
        assert_eq!(
            names(&["x/a.png", "a.jpg", "c.png"]).unwrap(),
            ["a_png.png", "a_jpg.png", "c.png"]
        );
        assert_eq!(
            names(&["A.png", "a.JPG"]).unwrap(),
            ["A_png.png", "a_JPG.png"]
        );
        let e = names(&["x/a.png", "y/a.png"]).unwrap_err().to_string();
        assert!(
            e.contains("x/a.png and y/a.png would both be written"),
            "{e}"
        );
    }
}
