//! The `local` generator (SPEC 5): the default, with no network. It renders
//! `num_variations` PNG ads per template in-process, at a real placement
//! size (1080x1080 unless `--generator local:1200x628` or `local:1080x1920`
//! says otherwise): the template, the ad copy (the product's hooks in turn,
//! every one used before one repeats within a run; the product name for
//! `recreate_template`), a call to action and the brand's name, in layouts
//! that change from one variation to the next (`layouts`). `color_mode:
//! brand` paints with the product's colors.
//!
//! The output is deterministic: the same request renders the same bytes, so
//! a retried template gives the same ads under the same `ad_run_id`.
//!
//! Long (about 600 lines of code, the rest tests): text drawing and fitting
//! and colour parsing are one renderer with `layouts`, used nowhere else.

mod layouts;

use std::path::{Path, PathBuf};

use super::generator::{GenFuture, Generator, LogFn};
use super::protocol::{GenerateRequest, GenerateResponse, Image, ImageSource, ImageStatus};
use crate::spec::model::{ColorMode, ContentSource};
use ab_glyph::{point, Font, FontRef, GlyphId, PxScale, ScaleFont};
use image::{ImageFormat, ImageReader, Rgba, RgbaImage};

/// DejaVu Sans Bold (free license, `assets/fonts/DejaVu-LICENSE.txt`),
/// bundled so the daemon needs no system fonts.
const FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans-Bold.ttf");

/// Most variations a request may ask for (SPEC 1).
const MAX_VARIATIONS: u8 = 15;

/// Ad copy longer than this is cut: no more would be legible in one band,
/// and wrapping cost grows with the square of a line's length.
const MAX_TEXT_CHARS: usize = 200;

/// Accent colors cycled through by variation when the brand gives none, so
/// that variations look different at a glance.
const PALETTE: [[u8; 3]; 5] = [
    [0xFF, 0xC8, 0x3D], // amber
    [0x3D, 0xDC, 0x97], // mint
    [0xFF, 0x6B, 0x6B], // coral
    [0x4D, 0xA3, 0xFF], // blue
    [0xC7, 0x7D, 0xFF], // violet
];

type Rgb = [u8; 3];

/// Why the local generator made no ads for a template. The messages hold
/// the underlying error's text, so it is not also a `source`: a report
/// walking the chain would print it twice.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The request has an empty `template.path`.
    #[error("bad request: no `template.path`")]
    NoTemplatePath,
    /// The request has an empty `output_dir`.
    #[error("bad request: no `output_dir`")]
    NoOutputDir,
    /// `num_variations` outside 1..=15.
    #[error("bad request: `parameters.num_variations` is {0}, expected 1..{max}", max = MAX_VARIATIONS)]
    Variations(u8),
    /// The rendering task panicked or was cancelled.
    #[error("the local generator stopped unexpectedly: {0}")]
    Stopped(tokio::task::JoinError),
    /// The bundled font is broken (a bad build).
    #[error("the bundled font does not load: {0}")]
    Font(ab_glyph::InvalidFont),
    /// The template cannot be opened or read.
    #[error("cannot read the template {}: {error}", .path.display())]
    ReadTemplate {
        /// The template.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The template is not an image the decoder knows.
    #[error("cannot decode the template {}: {error}", .path.display())]
    DecodeTemplate {
        /// The template.
        path: PathBuf,
        /// The decoder's error.
        error: image::ImageError,
    },
    /// The template decodes to 0 pixels.
    #[error("the template {} has no pixels", .0.display())]
    EmptyTemplate(PathBuf),
    /// A PNG cannot be encoded or written.
    #[error("cannot write {}: {error}", .path.display())]
    Encode {
        /// The file.
        path: PathBuf,
        /// The encoder's error.
        error: image::ImageError,
    },
    /// A written PNG cannot be moved to its name.
    #[error("cannot write {}: {error}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
}

/// Calls to action, one per ad, in turn.
const CTAS: [&str; 5] = [
    "Shop now",
    "Learn more",
    "Get yours today",
    "Try it now",
    "See why",
];

/// The default ad size: a square feed post.
pub const DEFAULT_SIZE: (u32, u32) = (1080, 1080);

/// Renders ads from the template image without any network (`--generator
/// local`, the default).
#[derive(Debug, Clone, Copy)]
pub struct LocalGenerator {
    size: (u32, u32),
}

impl Default for LocalGenerator {
    fn default() -> Self {
        LocalGenerator { size: DEFAULT_SIZE }
    }
}

impl LocalGenerator {
    /// The local generator at the default size, 1080x1080.
    pub fn new() -> Self {
        LocalGenerator::default()
    }

    /// Reads `local` or `local:WIDTHxHEIGHT` (each 100 to 4096 pixels), such
    /// as `local:1200x628` (a link ad) or `local:1080x1920` (a story).
    pub fn parse(spec: &str) -> Result<LocalGenerator, String> {
        let Some(size) = spec.strip_prefix("local:") else {
            return if spec == "local" {
                Ok(LocalGenerator::default())
            } else {
                Err(format!("`{spec}` is not `local` or `local:WIDTHxHEIGHT`"))
            };
        };
        let bad = || {
            format!(
                "--generator `{spec}`: give the ads' size as local:WIDTHxHEIGHT, each 100 to 4096 pixels, e.g. local:1200x628 or local:1080x1920"
            )
        };
        let (w, h) = size.split_once(['x', 'X']).ok_or_else(bad)?;
        let w: u32 = w.trim().parse().map_err(|_| bad())?;
        let h: u32 = h.trim().parse().map_err(|_| bad())?;
        if !(100..=4096).contains(&w) || !(100..=4096).contains(&h) {
            return Err(bad());
        }
        Ok(LocalGenerator { size: (w, h) })
    }

    /// The ads' size in pixels (width, height).
    pub fn size(&self) -> (u32, u32) {
        self.size
    }
}

impl Generator for LocalGenerator {
    fn name(&self) -> String {
        if self.size == DEFAULT_SIZE {
            "local".into()
        } else {
            format!("local:{}x{}", self.size.0, self.size.1)
        }
    }

    fn generate<'a>(&'a self, request: &'a GenerateRequest, log: LogFn<'a>) -> GenFuture<'a> {
        Box::pin(async move {
            let (job, warnings) = Job::from_request(request, self.size)?;
            for w in &warnings {
                log(&format!("local generator: {w}"));
            }
            // Decoding, drawing and PNG encoding are CPU-bound: keep them off
            // the async workers so the API stays responsive during a run.
            let (response, warnings) = tokio::task::spawn_blocking(move || render_all(&job))
                .await
                .map_err(LocalError::Stopped)??;
            for w in &warnings {
                log(&format!("local generator: {w}"));
            }
            Ok(response)
        })
    }
}

/// A request, checked and reduced to what rendering needs.
#[derive(Debug, Clone)]
struct Job {
    template: PathBuf,
    output_dir: PathBuf,
    ad_run_id: String,
    variations: usize,
    /// The template's place in its run (the `<n>` of `output_dir`): it
    /// carries the hooks on from where the previous template stopped.
    position: usize,
    /// The ads' size.
    size: (u32, u32),
    /// Headlines, taken in turn; never empty.
    texts: Vec<String>,
    brand_name: String,
    /// `Some` for `color_mode: brand`, with the colors that parsed.
    brand: Option<BrandColors>,
}

#[derive(Debug, Clone, Copy, Default)]
struct BrandColors {
    primary: Option<Rgb>,
    accent: Option<Rgb>,
    text: Option<Rgb>,
}

impl Job {
    /// Reads a SPEC 5 request. Out-of-range values are errors, since a
    /// silently different ad is worse. Also returns warnings for the run's log.
    fn from_request(
        req: &GenerateRequest,
        size: (u32, u32),
    ) -> Result<(Job, Vec<String>), LocalError> {
        let mut warnings = Vec::new();
        if req.template.path.as_os_str().is_empty() {
            return Err(LocalError::NoTemplatePath);
        }
        if req.output_dir.as_os_str().is_empty() {
            return Err(LocalError::NoOutputDir);
        }
        let params = &req.parameters;
        let n = params.num_variations;
        if !(1..=MAX_VARIATIONS).contains(&n) {
            return Err(LocalError::Variations(n));
        }
        let variations = usize::from(n);
        let product = &req.product;
        let product_name = product.name.trim().to_string();
        let brand_name = product.brand.name.trim().to_string();
        let hooks: Vec<String> = product
            .hooks
            .iter()
            .map(|h| h.trim())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let mut texts = match params.content_source {
            ContentSource::Hooks if !hooks.is_empty() => hooks,
            ContentSource::Hooks => {
                warnings
                    .push("the product has no hooks; using its name as the ad copy".to_string());
                vec![product_name.clone()]
            }
            ContentSource::RecreateTemplate => vec![product_name.clone()],
        };
        // A product without a name still gets ads: fall back to the brand.
        for t in &mut texts {
            if t.is_empty() {
                t.clone_from(&brand_name);
            }
            if t.chars().count() > MAX_TEXT_CHARS {
                let mut cut: String = t.chars().take(MAX_TEXT_CHARS - 1).collect();
                cut.push('…');
                warnings.push(format!(
                    "ad copy longer than {MAX_TEXT_CHARS} characters was shortened"
                ));
                *t = cut;
            }
        }
        let brand = if params.color_mode == ColorMode::Brand {
            let colors = product.colors.clone().unwrap_or_default();
            let mut read = |field: &str, value: &Option<String>| {
                let v = value.as_deref()?;
                let parsed = parse_hex(v);
                if parsed.is_none() {
                    warnings.push(format!(
                        "product color `{field}` is {v:?}, not #RRGGBB; ignored"
                    ));
                }
                parsed
            };
            let b = BrandColors {
                primary: read("primary", &colors.primary),
                accent: read("accent", &colors.accent),
                text: read("text", &colors.text),
            };
            if b.primary.is_none() {
                warnings.push(
                    "color_mode is brand but the product has no primary color; the band uses the template's colors"
                        .to_string(),
                );
            }
            Some(b)
        } else {
            None
        };
        // A stable id: a retried request (same idempotency key) names the
        // same ad run.
        let ad_run_id = format!("local-{:012x}", fnv1a(req.idempotency_key.as_bytes()) >> 16);
        Ok((
            Job {
                template: req.template.path.clone(),
                output_dir: req.output_dir.clone(),
                ad_run_id,
                variations,
                position: req
                    .output_dir
                    .file_name()
                    .and_then(|n| n.to_str()?.parse().ok())
                    .unwrap_or(0),
                size,
                texts,
                brand_name,
                brand,
            },
            warnings,
        ))
    }
}

/// FNV-1a, 64 bits: stable across Rust versions, unlike `DefaultHasher`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `#RRGGBB` (also `#RGB`, and without the `#`, to be lenient).
fn parse_hex(s: &str) -> Option<Rgb> {
    let h = s.trim().trim_start_matches('#');
    if !h.is_ascii() {
        return None;
    }
    let digit = |i: usize, n: usize| u8::from_str_radix(h.get(i..i + n)?, 16).ok();
    match h.len() {
        6 => Some([digit(0, 2)?, digit(2, 2)?, digit(4, 2)?]),
        3 => Some([digit(0, 1)? * 17, digit(1, 1)? * 17, digit(2, 1)? * 17]),
        _ => None,
    }
}

/// WCAG relative luminance, 0 (black) to 1 (white).
fn luminance(c: Rgb) -> f32 {
    let lin = |v: u8| {
        let s = f32::from(v) / 255.0;
        if s <= 0.039_28 {
            s / 12.92
        } else {
            ((s + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2])
}

/// WCAG contrast ratio, 1 (none) to 21.
fn contrast(a: Rgb, b: Rgb) -> f32 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// Black or white, whichever reads better on `bg`.
fn black_or_white(bg: Rgb) -> Rgb {
    if contrast(bg, [255; 3]) >= contrast(bg, [0; 3]) {
        [255; 3]
    } else {
        [0; 3]
    }
}

/// The template's average color, weighted by opacity.
fn average_color(img: &RgbaImage) -> Rgb {
    let mut sum = [0f64; 3];
    let mut weight = 0f64;
    for p in img.pixels() {
        let a = f64::from(p[3]);
        for (s, v) in sum.iter_mut().zip(p.0.iter()) {
            *s += f64::from(*v) * a;
        }
        weight += a;
    }
    if weight == 0.0 {
        return [0; 3];
    }
    sum.map(|s| (s / weight).round().clamp(0.0, 255.0) as u8)
}

/// The colors of one variation.
struct Look {
    band: Rgb,
    band_alpha: f32,
    text: Rgb,
    accent: Rgb,
}

impl Look {
    fn new(job: &Job, avg: Rgb, i: usize) -> Look {
        let palette = PALETTE[i % PALETTE.len()];
        let brand = job.brand.unwrap_or_default();
        let (band, band_alpha) = match brand.primary {
            Some(p) => (p, 1.0),
            None => {
                // The template's own hue, darkened so light text stays
                // legible; translucent so the template shows through.
                let l = luminance(avg);
                let k = if l > 0.04 {
                    (0.04 / l).powf(1.0 / 2.2)
                } else {
                    1.0
                };
                (avg.map(|v| (f32::from(v) * k) as u8), 0.8)
            }
        };
        let text = match brand.text {
            // A brand text color that all but vanishes on the band is not
            // what the brand wants either.
            Some(t) if contrast(t, band) >= 1.5 => t,
            _ => black_or_white(band),
        };
        let accent = brand.accent.unwrap_or(palette);
        Look {
            band,
            band_alpha,
            text,
            accent,
        }
    }
}

/// Decodes the template; the content decides the format, so a mislabeled
/// file still works.
fn load_template(path: &Path) -> Result<RgbaImage, LocalError> {
    let unreadable = |error| LocalError::ReadTemplate {
        path: path.to_path_buf(),
        error,
    };
    let img = ImageReader::open(path)
        .map_err(unreadable)?
        .with_guessed_format()
        .map_err(unreadable)?
        .decode()
        .map_err(|error| LocalError::DecodeTemplate {
            path: path.to_path_buf(),
            error,
        })?
        .to_rgba8();
    if img.width() == 0 || img.height() == 0 {
        return Err(LocalError::EmptyTemplate(path.to_path_buf()));
    }
    Ok(img)
}

/// Renders and saves every variation; returns the SPEC 5 response.
fn render_all(job: &Job) -> Result<(GenerateResponse, Vec<String>), LocalError> {
    let font = FontRef::try_from_slice(FONT).map_err(LocalError::Font)?;
    let template = load_template(&job.template)?;
    let avg = average_color(&template);
    let mut missing_glyphs = false;
    let mut images = Vec::new();
    for i in 0..job.variations {
        let look = Look::new(job, avg, i);
        // Hooks run on across the run's templates: template n starts where
        // template n-1 stopped, so each is used before any repeats.
        let turn = job.position * job.variations + i;
        let headline = known_chars(
            &font,
            &job.texts[turn % job.texts.len()],
            &mut missing_glyphs,
        );
        let copy = layouts::Copy {
            headline: &headline,
            cta: CTAS[turn % CTAS.len()],
            brand: &job.brand_name,
        };
        let img = layouts::render(
            &template,
            job.size,
            layouts::Layout::of(i),
            &look,
            &copy,
            &font,
            &mut missing_glyphs,
        );
        let path = job.output_dir.join(format!("variation-{}.png", i + 1));
        save_png(&img, &path)?;
        images.push(Image {
            source: ImageSource::Path(path),
            status: ImageStatus::Approved,
            text: Some(headline.clone()),
        });
    }
    let mut warnings = Vec::new();
    if missing_glyphs {
        warnings.push(
            "some characters of the ad copy are not in the bundled font and were left out"
                .to_string(),
        );
    }
    Ok((
        GenerateResponse {
            ad_run_id: job.ad_run_id.clone(),
            images,
        },
        warnings,
    ))
}

/// `text` without the characters the font lacks: dropped before wrapping,
/// they leave no gaps and lines stay centred.
fn known_chars(font: &FontRef<'_>, text: &str, missing: &mut bool) -> String {
    text.chars()
        .filter(|c| {
            let known = c.is_whitespace() || font.glyph_id(*c).0 != 0;
            *missing |= !known;
            known
        })
        .collect()
}

/// Writes through a temporary name so a half-written PNG is never taken
/// for an ad.
fn save_png(img: &RgbaImage, path: &Path) -> Result<(), LocalError> {
    let tmp = path.with_extension("png.tmp");
    img.save_with_format(&tmp, ImageFormat::Png)
        .map_err(|error| LocalError::Encode {
            path: tmp.clone(),
            error,
        })?;
    std::fs::rename(&tmp, path).map_err(|error| {
        let _ = std::fs::remove_file(&tmp);
        LocalError::Write {
            path: path.to_path_buf(),
            error,
        }
    })
}

/// Paints `c` over a pixel with opacity `a` (straight alpha "over").
fn over(p: &mut Rgba<u8>, c: Rgb, a: f32) {
    let a = a.clamp(0.0, 1.0);
    if a <= 0.0 {
        return;
    }
    if p[3] == 255 {
        // Opaque below (nearly every pixel): integer blending, the same
        // result to within rounding and several times faster.
        let a = (a * 255.0).round() as u16;
        for (ch, src) in c.iter().enumerate() {
            p[ch] = ((u16::from(*src) * a + u16::from(p[ch]) * (255 - a) + 127) / 255) as u8;
        }
        return;
    }
    let da = f32::from(p[3]) / 255.0;
    let out_a = a + da * (1.0 - a);
    for (ch, src) in c.iter().enumerate() {
        let v = (f32::from(*src) * a + f32::from(p[ch]) * da * (1.0 - a)) / out_a;
        p[ch] = v.round().clamp(0.0, 255.0) as u8;
    }
    p[3] = (out_a * 255.0).round().clamp(0.0, 255.0) as u8;
}

/// Paints a rectangle; the parts outside the image are ignored.
fn fill_rect(img: &mut RgbaImage, x0: f32, y0: f32, x1: f32, y1: f32, c: Rgb, a: f32) {
    let (w, h) = img.dimensions();
    let clampx = |v: f32| (v.round().max(0.0) as u32).min(w);
    let clampy = |v: f32| (v.round().max(0.0) as u32).min(h);
    for y in clampy(y0)..clampy(y1) {
        for x in clampx(x0)..clampx(x1) {
            over(img.get_pixel_mut(x, y), c, a);
        }
    }
}

/// The glyphs of `text` the font has; the others are skipped rather than
/// drawn as empty boxes.
fn glyphs(font: &FontRef<'_>, text: &str, missing: &mut bool) -> Vec<GlyphId> {
    text.chars()
        .filter_map(|c| {
            let id = font.glyph_id(c);
            if id.0 == 0 {
                *missing = true;
                None
            } else {
                Some(id)
            }
        })
        .collect()
}

/// Width in pixels of `text` at `size`.
fn measure(font: &FontRef<'_>, size: f32, text: &str) -> f32 {
    let scaled = font.as_scaled(PxScale::from(size));
    let mut ignored = false;
    let ids = glyphs(font, text, &mut ignored);
    let mut width = 0.0;
    for (n, id) in ids.iter().enumerate() {
        if n > 0 {
            width += scaled.kern(ids[n - 1], *id);
        }
        width += scaled.h_advance(*id);
    }
    width
}

/// Breaks `text` into lines no wider than `max_w`; a word too long for a
/// line is broken between characters.
fn wrap(font: &FontRef<'_>, size: f32, text: &str, max_w: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        let joined = if cur.is_empty() {
            word.to_string()
        } else {
            format!("{cur} {word}")
        };
        if measure(font, size, &joined) <= max_w {
            cur = joined;
            continue;
        }
        if !cur.is_empty() {
            lines.push(std::mem::take(&mut cur));
        }
        for ch in word.chars() {
            let mut longer = cur.clone();
            longer.push(ch);
            if !cur.is_empty() && measure(font, size, &longer) > max_w {
                lines.push(std::mem::replace(&mut cur, ch.to_string()));
            } else {
                cur = longer;
            }
        }
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

/// Draws one line with its left end at `x` and its baseline at `baseline`,
/// blending glyph coverage into the image.
fn draw_line(
    img: &mut RgbaImage,
    font: &FontRef<'_>,
    size: f32,
    text: &str,
    (x, baseline): (f32, f32),
    color: Rgb,
    missing: &mut bool,
) {
    let (w, h) = img.dimensions();
    let scaled = font.as_scaled(PxScale::from(size));
    let ids = glyphs(font, text, missing);
    let mut caret = x;
    for (n, id) in ids.iter().enumerate() {
        if n > 0 {
            caret += scaled.kern(ids[n - 1], *id);
        }
        let glyph = id.with_scale_and_position(size, point(caret, baseline));
        caret += scaled.h_advance(*id);
        let Some(outlined) = font.outline_glyph(glyph) else {
            continue; // a space-like glyph: nothing to draw
        };
        let bounds = outlined.px_bounds();
        outlined.draw(|gx, gy, coverage| {
            let px = bounds.min.x as i64 + i64::from(gx);
            let py = bounds.min.y as i64 + i64::from(gy);
            if px >= 0 && py >= 0 && px < i64::from(w) && py < i64::from(h) {
                over(img.get_pixel_mut(px as u32, py as u32), color, coverage);
            }
        });
    }
}

/// Height of one line of text at `size`, gap included.
fn line_height(font: &FontRef<'_>, size: f32) -> f32 {
    let s = font.as_scaled(PxScale::from(size));
    s.ascent() - s.descent() + s.line_gap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GenericImageView, Rgb as RgbPx, RgbImage};
    use serde_json::{json, Value};

    fn no_log(_: &str) {}

    /// A template with a gradient so tints and bands show.
    fn gradient(w: u32, h: u32) -> RgbaImage {
        RgbaImage::from_fn(w, h, |x, y| {
            Rgba([
                (x * 255 / w.max(1)) as u8,
                (y * 255 / h.max(1)) as u8,
                128,
                255,
            ])
        })
    }

    /// A request written as the JSON a `cmd:` program would read, so the
    /// tests also cover the wire form.
    fn request(
        template: &Path,
        out: &Path,
        params: Value,
        colors: Value,
        hooks: Value,
    ) -> GenerateRequest {
        serde_json::from_value(request_json(template, out, params, colors, hooks)).unwrap()
    }

    fn request_json(
        template: &Path,
        out: &Path,
        params: Value,
        colors: Value,
        hooks: Value,
    ) -> Value {
        json!({
            "schedule_id": "acme-weekly",
            "run_id": "01RUN",
            "idempotency_key": "01RUN/summer-01.png",
            "product": {
                "id": "collagen", "name": "Collagen Glow",
                "brand": {"id": "acme", "name": "Acme"},
                "hooks": hooks, "colors": colors,
            },
            "template": {"name": "summer-01.png", "path": template, "media_type": "image/png"},
            "parameters": params,
            "output_dir": out,
        })
    }

    async fn run(req: &GenerateRequest) -> Result<GenerateResponse, String> {
        LocalGenerator::new()
            .generate(req, &no_log)
            .await
            .map_err(|e| e.to_string())
    }

    fn paths(resp: &GenerateResponse) -> Vec<PathBuf> {
        resp.images
            .iter()
            .map(|i| {
                assert_eq!(i.status, ImageStatus::Approved);
                match &i.source {
                    ImageSource::Path(p) => p.clone(),
                    other => panic!("not a path: {other:?}"),
                }
            })
            .collect()
    }

    #[tokio::test]
    async fn renders_distinct_pngs_at_the_placement_size() {
        let dir = tempfile::tempdir().unwrap();
        let tpl = dir.path().join("t.png");
        gradient(160, 120).save(&tpl).unwrap();
        let req = request(
            &tpl,
            dir.path(),
            json!({"num_variations": 5, "content_source": "hooks", "color_mode": "original"}),
            Value::Null,
            json!(["Glow from within", "Your skin, only better"]),
        );
        let resp = run(&req).await.unwrap();
        let id = resp.ad_run_id.as_str();
        assert!(id.starts_with("local-") && id.len() > 6, "{id}");
        let files = paths(&resp);
        assert_eq!(files.len(), 5);
        let mut bytes = Vec::new();
        for (n, f) in files.iter().enumerate() {
            assert_eq!(f, &dir.path().join(format!("variation-{}.png", n + 1)));
            let img = image::open(f).unwrap();
            assert_eq!(img.dimensions(), (1080, 1080), "a square feed ad");
            bytes.push(std::fs::read(f).unwrap());
        }
        for a in 0..bytes.len() {
            for b in a + 1..bytes.len() {
                assert_ne!(bytes[a], bytes[b], "variations {a} and {b} are the same");
            }
        }
        assert!(!dir.path().join("variation-1.png.tmp").exists());
        // Same request, same id and bytes: a retry is idempotent.
        let again = run(&req).await.unwrap();
        assert_eq!(again.ad_run_id, resp.ad_run_id);
        assert_eq!(std::fs::read(&files[0]).unwrap(), bytes[0]);
        // Other placements are the generator's parameter.
        for (spec, size) in [
            ("local:1200x628", (1200, 628)),
            ("local:1080x1920", (1080, 1920)),
        ] {
            let out = dir.path().join(spec.replace(':', "-"));
            std::fs::create_dir(&out).unwrap();
            let mut req = req.clone();
            req.output_dir = out;
            let g = LocalGenerator::parse(spec).unwrap();
            assert_eq!(g.name(), spec);
            let resp = g.generate(&req, &no_log).await.unwrap();
            for f in paths(&resp) {
                assert_eq!(image::open(&f).unwrap().dimensions(), size, "{spec}");
            }
        }
    }

    #[test]
    fn sizes_are_checked_and_layouts_vary() {
        assert_eq!(LocalGenerator::parse("local").unwrap().size(), (1080, 1080));
        assert_eq!(
            LocalGenerator::parse("local:1200X628").unwrap().size(),
            (1200, 628)
        );
        for bad in [
            "local:",
            "local:99x1080",
            "local:1080x5000",
            "local:1080",
            "local:axb",
            "locale",
        ] {
            let e = LocalGenerator::parse(bad).unwrap_err();
            assert!(e.contains("local"), "{bad}: {e}");
        }
        let first: Vec<_> = (0..4).map(layouts::Layout::of).collect();
        for a in 0..4 {
            for b in a + 1..4 {
                assert_ne!(first[a], first[b], "variations {a} and {b} share a layout");
            }
        }
        assert_ne!(
            layouts::Layout::of(0),
            layouts::Layout::of(4),
            "the band moves"
        );
    }

    #[test]
    fn every_hook_is_used_before_one_repeats_across_a_runs_templates() {
        let hooks: Vec<String> = (0..7).map(|n| format!("hook {n}")).collect();
        let mut seen = Vec::new();
        // Three templates of a run (`output_dir` ends in their place), 3 ads each.
        for n in 0..3 {
            let req = request(
                Path::new("/t.png"),
                &Path::new("/state/ads/01RUN").join(n.to_string()),
                json!({"num_variations": 3}),
                Value::Null,
                json!(hooks),
            );
            let (job, _) = Job::from_request(&req, DEFAULT_SIZE).unwrap();
            for i in 0..job.variations {
                let turn = job.position * job.variations + i;
                seen.push(job.texts[turn % job.texts.len()].clone());
            }
        }
        assert_eq!(&seen[..7], &hooks[..], "the first 7 ads use the 7 hooks");
        assert_eq!(&seen[7..], &hooks[..2], "then they start again");
    }

    #[tokio::test]
    async fn brand_mode_paints_the_band_with_the_brand_colors() {
        let dir = tempfile::tempdir().unwrap();
        let tpl = dir.path().join("white.png");
        RgbaImage::from_pixel(400, 200, Rgba([255, 255, 255, 255]))
            .save(&tpl)
            .unwrap();
        let req = request(
            &tpl,
            dir.path(),
            json!({"num_variations": 2, "content_source": "hooks", "color_mode": "brand"}),
            json!({"primary": "#12AB34", "accent": "#FFCC00", "text": "#FFFFFF"}),
            json!(["Glow"]),
        );
        let resp = run(&req).await.unwrap();
        let img = image::open(&paths(&resp)[0]).unwrap().to_rgba8();
        // The first variation's band is the lower third, solid primary.
        assert_eq!(img.get_pixel(1, 1078).0, [0x12, 0xAB, 0x34, 255]);
        // Its top edge carries the accent strip.
        assert_eq!(img.get_pixel(1, 716).0, [0xFF, 0xCC, 0x00, 255]);
        // The copy is drawn in the text color inside the band, and the call
        // to action is an accent button.
        let count = |c: [u8; 4]| {
            (725..1080)
                .flat_map(|y| (0..1080).map(move |x| (x, y)))
                .filter(|&(x, y)| img.get_pixel(x, y).0 == c)
                .count()
        };
        assert!(count([255, 255, 255, 255]) > 500, "too few text pixels");
        assert!(count([0xFF, 0xCC, 0x00, 255]) > 5000, "no button");
        // Above the band the template stays white, apart from the tag.
        assert_eq!(img.get_pixel(1079, 400).0, [255, 255, 255, 255]);
        // The brand tag sits top-left in the accent color.
        assert_eq!(img.get_pixel(50, 50).0, [0xFF, 0xCC, 0x00, 255]);
        // The second variation (split) has a solid primary panel under the picture.
        let split = image::open(&paths(&resp)[1]).unwrap().to_rgba8();
        assert_eq!(split.get_pixel(1, 1078).0, [0x12, 0xAB, 0x34, 255]);
        assert_eq!(split.get_pixel(540, 300).0, [255, 255, 255, 255]);
    }

    #[tokio::test]
    async fn original_mode_keeps_the_template_colors() {
        let dir = tempfile::tempdir().unwrap();
        let tpl = dir.path().join("t.png");
        let plain = [40, 160, 200, 255];
        RgbaImage::from_pixel(100, 100, Rgba(plain))
            .save(&tpl)
            .unwrap();
        let req = request(
            &tpl,
            dir.path(),
            json!({"num_variations": 1, "color_mode": "original"}),
            json!({"primary": "#12AB34"}),
            json!(["Glow"]),
        );
        let resp = run(&req).await.unwrap();
        let img = image::open(&paths(&resp)[0]).unwrap().to_rgba8();
        // Translucent dark band: not the brand color, darker than the template.
        let p = img.get_pixel(1, 1078).0;
        assert_ne!(p, [0x12, 0xAB, 0x34, 255]);
        let sum = |c: &[u8]| c[..3].iter().map(|&v| u32::from(v)).sum::<u32>();
        assert!(sum(&p) < sum(&plain), "{p:?} vs {plain:?}");
        // Outside the band and tag the picture is the template's.
        assert_eq!(img.get_pixel(1079, 400).0, plain);
    }

    #[tokio::test]
    async fn jpg_and_webp_templates_work() {
        let dir = tempfile::tempdir().unwrap();
        let jpg = dir.path().join("t.jpg");
        RgbImage::from_fn(90, 60, |x, y| RgbPx([x as u8, y as u8, 200]))
            .save(&jpg)
            .unwrap();
        let webp = dir.path().join("t.webp");
        gradient(64, 48).save(&webp).unwrap();
        for tpl in [jpg, webp] {
            let out = dir.path().join(tpl.extension().unwrap());
            std::fs::create_dir(&out).unwrap();
            let req = request(
                &tpl,
                &out,
                json!({"num_variations": 2}),
                Value::Null,
                json!(["Hi"]),
            );
            let resp = run(&req).await.unwrap();
            for f in paths(&resp) {
                assert_eq!(image::open(&f).unwrap().dimensions(), DEFAULT_SIZE);
                assert_eq!(
                    image::guess_format(&std::fs::read(&f).unwrap()).unwrap(),
                    ImageFormat::Png
                );
            }
        }
    }

    #[tokio::test]
    async fn missing_or_broken_template_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone.png");
        let req = request(&gone, dir.path(), json!({}), Value::Null, json!(["x"]));
        let err = run(&req).await.unwrap_err();
        assert!(err.contains("gone.png"), "{err}");
        let junk = dir.path().join("junk.png");
        std::fs::write(&junk, b"not an image").unwrap();
        let req = request(&junk, dir.path(), json!({}), Value::Null, json!(["x"]));
        let err = run(&req).await.unwrap_err();
        assert!(err.contains("junk.png"), "{err}");
    }

    #[tokio::test]
    async fn bad_requests_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let tpl = dir.path().join("t.png");
        gradient(10, 10).save(&tpl).unwrap();
        for params in [json!({"num_variations": 0}), json!({"num_variations": 16})] {
            let req = request(&tpl, dir.path(), params.clone(), Value::Null, json!([]));
            let err = run(&req).await.unwrap_err();
            assert!(err.starts_with("bad request"), "{params}: {err}");
        }
        // Values of the wrong type or outside the enums cannot reach the
        // generator: the typed request refuses them when it is read.
        for params in [
            json!({"num_variations": "3"}),
            json!({"content_source": "magic"}),
            json!({"color_mode": "neon"}),
        ] {
            let v = request_json(&tpl, dir.path(), params.clone(), Value::Null, json!([]));
            assert!(
                serde_json::from_value::<GenerateRequest>(v).is_err(),
                "{params}"
            );
        }
        let mut req = request(&tpl, dir.path(), json!({}), Value::Null, json!([]));
        req.template.path = PathBuf::new();
        let err = run(&req).await.unwrap_err();
        assert!(err.contains("template.path"), "{err}");
    }

    #[tokio::test]
    async fn odd_inputs_still_render() {
        let dir = tempfile::tempdir().unwrap();
        // A 1x1 template, no hooks, no colors in brand mode, recreate.
        let tiny = dir.path().join("tiny.png");
        gradient(1, 1).save(&tiny).unwrap();
        let tall = dir.path().join("tall.png");
        gradient(20, 400).save(&tall).unwrap();
        let long_word = "x".repeat(500);
        let cases = [
            (
                tiny.clone(),
                json!({"num_variations": 3, "color_mode": "brand"}),
                json!([]),
            ),
            (
                tiny,
                json!({"content_source": "recreate_template"}),
                json!(["a"]),
            ),
            (
                tall.clone(),
                json!({"num_variations": 15}),
                json!([long_word, "✨ emoji 🚀 ok"]),
            ),
            (tall, json!({"color_mode": "brand"}), json!(["  ", ""])),
        ];
        for (n, (tpl, params, hooks)) in cases.into_iter().enumerate() {
            let out = dir.path().join(n.to_string());
            std::fs::create_dir(&out).unwrap();
            let req = request(&tpl, &out, params, json!({"primary": "bogus"}), hooks);
            let warnings = std::sync::Mutex::new(Vec::new());
            let log = |m: &str| warnings.lock().unwrap().push(m.to_string());
            let resp = LocalGenerator::new().generate(&req, &log).await.unwrap();
            for f in paths(&resp) {
                assert_eq!(image::open(&f).unwrap().dimensions(), DEFAULT_SIZE);
            }
            if n == 0 {
                let w = warnings.lock().unwrap().join("\n");
                assert!(w.contains("no hooks") && w.contains("primary"), "{w}");
            }
        }
    }

    #[test]
    fn parses_colors_and_hashes_stably() {
        assert_eq!(parse_hex("#12AB34"), Some([0x12, 0xAB, 0x34]));
        assert_eq!(parse_hex("fff"), Some([255, 255, 255]));
        assert_eq!(parse_hex("#12AB3"), None);
        assert_eq!(parse_hex("#ééé"), None);
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(LocalGenerator::new().name(), "local");
        assert!(!LocalGenerator::new().wants_content());
    }
}
