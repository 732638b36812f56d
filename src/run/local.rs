//! The `local` generator: renders ads in-process, no network. Each
//! variation is the template with a copy band (a product hook, or the
//! product name for `recreate_template`), a brand tag and an accent stripe,
//! in the product's colors for `color_mode: brand`. The text is set in
//! DejaVu Sans Bold, bundled with its license in `assets/fonts`.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use image::{Rgba, RgbaImage};
use serde_json::{json, Value};

use super::generator::{GenFuture, Generator, LogFn};

static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

/// Renders ads from the template image on this machine.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalGenerator;

impl Generator for LocalGenerator {
    fn name(&self) -> String {
        "local".into()
    }

    fn generate<'a>(&'a self, request: &'a Value, _log: LogFn<'a>) -> GenFuture<'a> {
        let request = request.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || render_all(&request))
                .await
                .map_err(|e| format!("the local generator crashed: {e}"))?
        })
    }
}

/// What the request asks for, read defensively.
struct Ask {
    template: PathBuf,
    out_dir: PathBuf,
    variations: usize,
    lines: Vec<String>,
    brand_name: String,
    colors: Option<(Rgba<u8>, Rgba<u8>, Rgba<u8>)>,
    key: String,
}

fn parse_color(v: &Value) -> Option<Rgba<u8>> {
    let s = v.as_str()?.strip_prefix('#')?;
    if s.len() != 6 {
        return None;
    }
    let n = u32::from_str_radix(s, 16).ok()?;
    Some(Rgba([(n >> 16) as u8, (n >> 8) as u8, n as u8, 255]))
}

fn ask(req: &Value) -> Result<Ask, String> {
    let template = req["template"]["path"]
        .as_str()
        .ok_or("the request has no template.path")?;
    let out_dir = req["output_dir"]
        .as_str()
        .ok_or("the request has no output_dir")?;
    let params = &req["parameters"];
    let variations = params["num_variations"].as_u64().unwrap_or(5).clamp(1, 15) as usize;
    let product = &req["product"];
    let name = product["name"].as_str().unwrap_or("").to_string();
    let hooks: Vec<String> = product["hooks"]
        .as_array()
        .map(|h| {
            h.iter()
                .filter_map(|x| x.as_str())
                .filter(|s| !s.trim().is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let lines = if params["content_source"] == "recreate_template" || hooks.is_empty() {
        vec![name.clone()]
    } else {
        hooks
    };
    let colors = if params["color_mode"] == "brand" {
        let c = &product["colors"];
        Some((
            parse_color(&c["primary"]).unwrap_or(Rgba([15, 118, 110, 255])),
            parse_color(&c["accent"]).unwrap_or(Rgba([245, 158, 11, 255])),
            parse_color(&c["text"]).unwrap_or(Rgba([255, 255, 255, 255])),
        ))
    } else {
        None
    };
    Ok(Ask {
        template: PathBuf::from(template),
        out_dir: PathBuf::from(out_dir),
        variations,
        lines,
        brand_name: product["brand"]["name"].as_str().unwrap_or("").to_string(),
        colors,
        key: req["idempotency_key"].as_str().unwrap_or("").to_string(),
    })
}

fn render_all(req: &Value) -> Result<Value, String> {
    let a = ask(req)?;
    let base = image::open(&a.template)
        .map_err(|e| format!("cannot read template {}: {e}", a.template.display()))?
        .to_rgba8();
    let font = FontRef::try_from_slice(FONT_BYTES).map_err(|e| format!("bundled font: {e}"))?;
    let mut images = Vec::new();
    for v in 0..a.variations {
        let img = render(&base, &a, v, &font);
        let path = a.out_dir.join(format!("variation-{}.png", v + 1));
        save(&img, &path)?;
        images.push(json!({"path": path, "status": "approved"}));
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    a.key.hash(&mut h);
    Ok(json!({"ad_run_id": format!("local-{:016x}", h.finish()), "images": images}))
}

fn save(img: &RgbaImage, path: &Path) -> Result<(), String> {
    img.save_with_format(path, image::ImageFormat::Png)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// A hue per variation, so ads of one template differ at a glance.
fn variation_accent(v: usize) -> Rgba<u8> {
    const PALETTE: [[u8; 3]; 6] = [
        [245, 158, 11],
        [236, 72, 153],
        [59, 130, 246],
        [16, 185, 129],
        [139, 92, 246],
        [239, 68, 68],
    ];
    let c = PALETTE[v % PALETTE.len()];
    Rgba([c[0], c[1], c[2], 255])
}

fn blend(dst: &mut Rgba<u8>, src: Rgba<u8>, alpha: f32) {
    let a = alpha.clamp(0.0, 1.0);
    for i in 0..3 {
        dst.0[i] = (dst.0[i] as f32 * (1.0 - a) + src.0[i] as f32 * a).round() as u8;
    }
    dst.0[3] = 255;
}

fn fill(img: &mut RgbaImage, x0: u32, y0: u32, x1: u32, y1: u32, color: Rgba<u8>, alpha: f32) {
    for y in y0.min(img.height())..y1.min(img.height()) {
        for x in x0.min(img.width())..x1.min(img.width()) {
            blend(img.get_pixel_mut(x, y), color, alpha);
        }
    }
}

fn render(base: &RgbaImage, a: &Ask, v: usize, font: &FontRef) -> RgbaImage {
    let mut img = base.clone();
    let (w, h) = img.dimensions();
    let (band, accent, text) = match a.colors {
        Some((p, acc, t)) => (p, acc, t),
        None => (
            Rgba([17, 24, 39, 255]),
            variation_accent(v),
            Rgba([255, 255, 255, 255]),
        ),
    };
    // The band sits in the lower part; its top moves a little per variation.
    let band_h = (h as f32 * (0.30 + 0.03 * (v % 3) as f32)).max(1.0) as u32;
    let top = h.saturating_sub(band_h + (h / 20) * (v as u32 % 2));
    let alpha = if a.colors.is_some() { 0.92 } else { 0.72 };
    fill(&mut img, 0, top, w, top + band_h, band, alpha);
    let stripe = (h / 60).max(1);
    fill(&mut img, 0, top.saturating_sub(stripe), w, top, accent, 1.0);
    // Copy: the variation's hook, wrapped and scaled to the band.
    let line = &a.lines[v % a.lines.len()];
    let margin = (w / 16).max(1);
    let mut size = (band_h as f32 * 0.32).max(6.0);
    let mut wrapped = wrap(font, line, size, w.saturating_sub(2 * margin) as f32);
    while size > 6.0 && wrapped.len() as f32 * size * 1.2 > band_h as f32 * 0.8 {
        size *= 0.88;
        wrapped = wrap(font, line, size, w.saturating_sub(2 * margin) as f32);
    }
    let mut y = top as f32 + (band_h as f32 - wrapped.len() as f32 * size * 1.2) / 2.0;
    for l in &wrapped {
        draw_text(&mut img, font, l, size, margin as f32, y, text);
        y += size * 1.2;
    }
    // Brand tag, top left, in the accent color.
    if !a.brand_name.is_empty() {
        let tag_size = (h as f32 * 0.055).max(6.0);
        let tag_w = text_width(font, &a.brand_name, tag_size) as u32 + margin;
        fill(
            &mut img,
            margin / 2,
            margin / 2,
            margin / 2 + tag_w,
            margin / 2 + (tag_size * 1.5) as u32,
            accent,
            0.95,
        );
        draw_text(
            &mut img,
            font,
            &a.brand_name,
            tag_size,
            margin as f32,
            margin as f32 / 2.0 + tag_size * 0.25,
            Rgba([255, 255, 255, 255]),
        );
    }
    img
}

fn text_width(font: &FontRef, s: &str, size: f32) -> f32 {
    let sf = font.as_scaled(PxScale::from(size));
    let mut width = 0.0;
    let mut prev = None;
    for c in s.chars() {
        let id = sf.glyph_id(c);
        if let Some(p) = prev {
            width += sf.kern(p, id);
        }
        width += sf.h_advance(id);
        prev = Some(id);
    }
    width
}

/// Greedy word wrap to `max` pixels; a word too long for a line stands alone.
fn wrap(font: &FontRef, s: &str, size: f32, max: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in s.split_whitespace() {
        let candidate = if cur.is_empty() {
            word.to_string()
        } else {
            format!("{cur} {word}")
        };
        if text_width(font, &candidate, size) <= max || cur.is_empty() {
            cur = candidate;
        } else {
            lines.push(std::mem::take(&mut cur));
            cur = word.to_string();
        }
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    if lines.is_empty() {
        lines.push(String::new());
    }
    lines
}

fn draw_text(
    img: &mut RgbaImage,
    font: &FontRef,
    s: &str,
    size: f32,
    x: f32,
    top: f32,
    color: Rgba<u8>,
) {
    let scale = PxScale::from(size);
    let sf = font.as_scaled(scale);
    let baseline = top + sf.ascent();
    let mut pen = x;
    let mut prev = None;
    let (w, h) = img.dimensions();
    for c in s.chars() {
        let id = sf.glyph_id(c);
        if let Some(p) = prev {
            pen += sf.kern(p, id);
        }
        let glyph = id.with_scale_and_position(scale, ab_glyph::point(pen, baseline));
        pen += sf.h_advance(id);
        prev = Some(id);
        if let Some(outline) = font.outline_glyph(glyph) {
            let bounds = outline.px_bounds();
            outline.draw(|gx, gy, coverage| {
                let px = bounds.min.x as i64 + gx as i64;
                let py = bounds.min.y as i64 + gy as i64;
                if px >= 0 && py >= 0 && (px as u32) < w && (py as u32) < h {
                    blend(img.get_pixel_mut(px as u32, py as u32), color, coverage);
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(dir: &Path, name: &str, w: u32, h: u32) -> PathBuf {
        let img = RgbaImage::from_fn(w, h, |x, y| {
            Rgba([(x % 256) as u8, (y % 256) as u8, 128, 255])
        });
        let p = dir.join(name);
        if name.ends_with(".jpg") {
            image::DynamicImage::ImageRgba8(img)
                .to_rgb8()
                .save(&p)
                .unwrap();
        } else {
            img.save(&p).unwrap();
        }
        p
    }

    fn request(t: &Path, out: &Path, mode: &str, n: u32) -> Value {
        json!({
            "idempotency_key": "run-1/t.png",
            "product": {"id": "p", "name": "Collagen Peptides", "brand": {"id": "b", "name": "Acme"},
                        "hooks": ["Glow from the inside out", "Your daily dose of radiance"],
                        "colors": {"primary": "#0F766E", "accent": "#F59E0B", "text": "#FFFFFF"}},
            "template": {"name": "t", "path": t, "media_type": "image/png"},
            "parameters": {"num_variations": n, "content_source": "hooks", "color_mode": mode},
            "output_dir": out,
        })
    }

    async fn run(req: &Value) -> Result<Value, String> {
        LocalGenerator.generate(req, &|_| {}).await
    }

    #[tokio::test]
    async fn variations_decode_keep_the_size_and_differ() {
        let d = tempfile::tempdir().unwrap();
        let t = template(d.path(), "t.png", 320, 240);
        let resp = run(&request(&t, d.path(), "original", 3)).await.unwrap();
        let imgs = resp["images"].as_array().unwrap();
        assert_eq!(imgs.len(), 3);
        let mut bytes = Vec::new();
        for i in imgs {
            let p = i["path"].as_str().unwrap();
            let img = image::open(p).unwrap();
            assert_eq!((img.width(), img.height()), (320, 240));
            bytes.push(std::fs::read(p).unwrap());
        }
        assert_ne!(bytes[0], bytes[1]);
        assert_ne!(bytes[1], bytes[2]);
        assert!(resp["ad_run_id"].as_str().unwrap().starts_with("local-"));
    }

    #[tokio::test]
    async fn brand_mode_paints_the_band_in_the_brand_color() {
        let d = tempfile::tempdir().unwrap();
        let t = template(d.path(), "t.png", 400, 300);
        let resp = run(&request(&t, d.path(), "brand", 1)).await.unwrap();
        let img = image::open(resp["images"][0]["path"].as_str().unwrap())
            .unwrap()
            .to_rgba8();
        // Near the right edge of the band, away from the text.
        let px = img.get_pixel(398, 290);
        let close = |a: u8, b: u8| (a as i32 - b as i32).abs() < 30;
        assert!(
            close(px[0], 0x0F) && close(px[1], 0x76) && close(px[2], 0x6E),
            "{px:?}"
        );
    }

    #[tokio::test]
    async fn jpeg_and_tiny_templates_work_and_missing_ones_fail() {
        let d = tempfile::tempdir().unwrap();
        let t = template(d.path(), "t.jpg", 200, 200);
        assert_eq!(
            run(&request(&t, d.path(), "original", 2)).await.unwrap()["images"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let t = template(d.path(), "tiny.png", 1, 1);
        assert!(run(&request(&t, d.path(), "brand", 1)).await.is_ok());
        let err = run(&request(
            &d.path().join("nope.png"),
            d.path(),
            "original",
            1,
        ))
        .await
        .unwrap_err();
        assert!(err.contains("nope.png"), "{err}");
    }
}
