//! The `local` generator (SPEC 5): the default, with no network. It renders
//! `num_variations` PNG ads per template in-process: the template image, a
//! colored band with the ad copy (a product hook, or the product name for
//! `recreate_template`), and a small brand-name tag. `color_mode: brand`
//! paints with the product's colors.
//!
//! The output is deterministic: the same request renders the same bytes, so
//! a retried template gives the same ads under the same `ad_run_id`.
//!
//! Long (about 750 lines of code, the rest tests): drawing, layout, text
//! fitting and colour parsing are one renderer, used nowhere else.

use std::path::{Path, PathBuf};

use super::generator::{GenFuture, Generator, LogFn};
use super::protocol::{GenerateRequest, GenerateResponse, Image, ImageSource, ImageStatus};
use crate::spec::model::{ColorMode, ContentSource};
use ab_glyph::{point, Font, FontRef, GlyphId, PxScale, ScaleFont};
use image::{ImageFormat, ImageReader, Rgba, RgbaImage};

/// DejaVu Sans Bold (free license, `assets/fonts/DejaVu-LICENSE.txt`),
/// bundled so the daemon needs no system fonts.
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

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

/// Renders ads from the template image without any network (`--generator
/// local`, the default).
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalGenerator;

impl LocalGenerator {
    /// The local generator; it has no settings.
    pub fn new() -> Self {
        LocalGenerator
    }
}

impl Generator for LocalGenerator {
    fn name(&self) -> String {
        "local".into()
    }

    fn generate<'a>(&'a self, request: &'a GenerateRequest, log: LogFn<'a>) -> GenFuture<'a> {
        Box::pin(async move {
            let (job, warnings) = Job::from_request(request)?;
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
    /// Headlines, cycled through by variation; never empty.
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
    fn from_request(req: &GenerateRequest) -> Result<(Job, Vec<String>), LocalError> {
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

/// Where a variation's band sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BandAt {
    Bottom,
    Top,
    Middle,
}

/// The colors of one variation.
struct Look {
    band: Rgb,
    band_alpha: f32,
    text: Rgb,
    accent: Rgb,
    tint: Rgb,
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
        let tint = brand.primary.unwrap_or(accent);
        Look {
            band,
            band_alpha,
            text,
            accent,
            tint,
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
        let img = render_variation(job, &template, &font, &look, i, &mut missing_glyphs);
        let path = job.output_dir.join(format!("variation-{}.png", i + 1));
        save_png(&img, &path)?;
        images.push(Image {
            source: ImageSource::Path(path),
            status: ImageStatus::Approved,
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

/// Draws `text` centered in the box, wrapped and at the largest size (up to
/// `max_size`) that fits. Too small a box gets no text.
fn draw_block(
    img: &mut RgbaImage,
    font: &FontRef<'_>,
    text: &str,
    (bx, by, bw, bh): (f32, f32, f32, f32),
    max_size: f32,
    color: Rgb,
    missing: &mut bool,
) {
    const MIN_SIZE: f32 = 4.0;
    if bw < MIN_SIZE || bh < MIN_SIZE || text.trim().is_empty() {
        return;
    }
    let mut size = max_size.min(bh / 1.2).max(MIN_SIZE);
    let mut lines = wrap(font, size, text, bw);
    // Shrink until the wrapped text fits the box (bounded: 0.9^40 < 2%).
    for _ in 0..40 {
        let fits = lines.len() as f32 * line_height(font, size) <= bh
            && lines.iter().all(|l| measure(font, size, l) <= bw);
        if fits || size <= MIN_SIZE {
            break;
        }
        size = (size * 0.9).max(MIN_SIZE);
        lines = wrap(font, size, text, bw);
    }
    let lh = line_height(font, size);
    let ascent = font.as_scaled(PxScale::from(size)).ascent();
    let top = by + (bh - lines.len() as f32 * lh).max(0.0) / 2.0;
    for (n, line) in lines.iter().enumerate() {
        let lw = measure(font, size, line);
        let x = bx + (bw - lw).max(0.0) / 2.0;
        let baseline = top + ascent + n as f32 * lh;
        draw_line(img, font, size, line, (x, baseline), color, missing);
    }
}

/// Renders variation `i` (0-based): tint, band, accent strip, copy, tag.
fn render_variation(
    job: &Job,
    template: &RgbaImage,
    font: &FontRef<'_>,
    look: &Look,
    i: usize,
    missing: &mut bool,
) -> RgbaImage {
    let mut img = template.clone();
    let (w, h) = img.dimensions();
    let (wf, hf) = (w as f32, h as f32);

    // A tint that grows by variation keeps even same-copy variations apart;
    // the first variation shows the template untouched.
    let tint = 0.012 * i as f32;
    if tint > 0.0 {
        for p in img.pixels_mut() {
            for (ch, c) in look.tint.iter().enumerate() {
                let v = f32::from(p[ch]) * (1.0 - tint) + f32::from(*c) * tint;
                p[ch] = v.round().clamp(0.0, 255.0) as u8;
            }
        }
    }

    // The band: about the lower third; later variations move it.
    let at = [BandAt::Bottom, BandAt::Top, BandAt::Middle][i % 3];
    let band_h = (hf * 0.30).round().clamp(1.0, hf);
    let band_y = match at {
        BandAt::Bottom => hf - band_h,
        BandAt::Top => 0.0,
        BandAt::Middle => ((hf - band_h) * 0.55).round(),
    };
    fill_rect(
        &mut img,
        0.0,
        band_y,
        wf,
        band_y + band_h,
        look.band,
        look.band_alpha,
    );

    // An accent strip on the band's edge that faces the picture.
    let strip = (band_h / 25.0).round().max(1.0);
    let strip_y = match at {
        BandAt::Top => band_y + band_h - strip,
        _ => band_y,
    };
    fill_rect(
        &mut img,
        0.0,
        strip_y,
        wf,
        strip_y + strip,
        look.accent,
        1.0,
    );

    // The copy, inside the band clear of the strip. Characters the font
    // lacks go before wrapping, so they leave no gaps and lines stay centered.
    let text: String = job.texts[i % job.texts.len()]
        .chars()
        .filter(|c| {
            let known = c.is_whitespace() || font.glyph_id(*c).0 != 0;
            *missing |= !known;
            known
        })
        .collect();
    let pad_x = (wf * 0.06).max(1.0);
    let pad_y = band_h * 0.12;
    let text_y = if at == BandAt::Top {
        band_y + pad_y
    } else {
        band_y + strip + pad_y
    };
    let text_h = band_h - strip - 2.0 * pad_y;
    draw_block(
        &mut img,
        font,
        &text,
        (pad_x, text_y, wf - 2.0 * pad_x, text_h),
        wf * 0.08,
        look.text,
        missing,
    );

    // The brand tag, in a corner away from the band.
    let short = wf.min(hf);
    let mut tag_size = short * 0.045;
    let margin = short * 0.04;
    let name = job.brand_name.as_str();
    if !name.is_empty() && tag_size >= 6.0 {
        let room = wf - 2.0 * margin;
        let mut tag_w = measure(font, tag_size, name) + tag_size;
        if tag_w > room {
            tag_size *= room / tag_w;
            tag_w = measure(font, tag_size, name) + tag_size;
        }
        if tag_size >= 6.0 {
            let pad = tag_size * 0.5;
            let s = font.as_scaled(PxScale::from(tag_size));
            let tag_h = s.ascent() - s.descent() + pad;
            let tag_y = match at {
                BandAt::Top => hf - margin - tag_h,
                _ => margin,
            };
            fill_rect(
                &mut img,
                margin,
                tag_y,
                margin + tag_w,
                tag_y + tag_h,
                look.accent,
                1.0,
            );
            draw_line(
                &mut img,
                font,
                tag_size,
                name,
                (margin + pad, tag_y + pad / 2.0 + s.ascent()),
                black_or_white(look.accent),
                missing,
            );
        }
    }
    img
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
        LocalGenerator
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
    async fn renders_distinct_pngs_of_the_template_size() {
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
            assert_eq!(img.dimensions(), (160, 120));
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
        // The first variation's band is at the bottom, solid primary.
        assert_eq!(img.get_pixel(1, 198).0, [0x12, 0xAB, 0x34, 255]);
        // Its top edge carries the accent strip.
        assert_eq!(img.get_pixel(200, 141).0, [0xFF, 0xCC, 0x00, 255]);
        // The copy is drawn in the text color inside the band.
        let white_in_band = (142..200)
            .flat_map(|y| (0..400).map(move |x| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0 == [255, 255, 255, 255])
            .count();
        assert!(white_in_band > 20, "only {white_in_band} text pixels");
        // Above the band the template stays white, apart from the tag.
        assert_eq!(img.get_pixel(399, 80).0, [255, 255, 255, 255]);
        // The brand tag sits top-left in the accent color.
        assert_eq!(img.get_pixel(10, 10).0, [0xFF, 0xCC, 0x00, 255]);
    }

    #[tokio::test]
    async fn original_mode_keeps_the_template_colors() {
        let dir = tempfile::tempdir().unwrap();
        let tpl = dir.path().join("t.png");
        gradient(100, 100).save(&tpl).unwrap();
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
        let p = img.get_pixel(1, 98).0;
        assert_ne!(p, [0x12, 0xAB, 0x34, 255]);
        let t = gradient(100, 100).get_pixel(1, 98).0;
        let sum = |c: &[u8]| c[..3].iter().map(|&v| u32::from(v)).sum::<u32>();
        assert!(sum(&p) < sum(&t), "{p:?} vs {t:?}");
        // Outside the band and tag the first variation is the template.
        assert_eq!(img.get_pixel(99, 40).0, t_at(99, 40));
    }

    fn t_at(x: u32, y: u32) -> [u8; 4] {
        gradient(100, 100).get_pixel(x, y).0
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
        for (tpl, size) in [(jpg, (90, 60)), (webp, (64, 48))] {
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
                assert_eq!(image::open(&f).unwrap().dimensions(), size);
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
            let resp = LocalGenerator.generate(&req, &log).await.unwrap();
            let want = tpl_dims(&tpl);
            for f in paths(&resp) {
                assert_eq!(image::open(&f).unwrap().dimensions(), want);
            }
            if n == 0 {
                let w = warnings.lock().unwrap().join("\n");
                assert!(w.contains("no hooks") && w.contains("primary"), "{w}");
            }
        }
    }

    fn tpl_dims(p: &Path) -> (u32, u32) {
        image::open(p).unwrap().dimensions()
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
        assert!(!LocalGenerator.wants_content());
    }
}
