//! The local generator's layouts: how one variation places the template,
//! the headline, the call to action and the brand tag on a canvas of the
//! placement's size. Variations cycle through the layouts, so five ads of
//! one template look like five ads, not one ad five times.

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use image::imageops::{self, FilterType};
use image::{Rgba, RgbaImage};

use super::{black_or_white, fill_rect, line_height, measure, over, wrap, Look, Rgb};

/// The layouts, in the order variations use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    /// The template full-bleed, a band with the copy (bottom, top, middle).
    Band(BandAt),
    /// The template on one side, a solid panel with the copy on the other.
    Split,
    /// A solid frame holding the template, the copy underneath.
    Frame,
    /// The template darkened full-bleed, the copy large in the middle.
    Poster,
}

/// Where a band sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BandAt {
    Bottom,
    Top,
    Middle,
}

impl Layout {
    /// Variation `i`'s layout: every layout once before a band moves.
    pub(super) fn of(i: usize) -> Layout {
        let band = [BandAt::Bottom, BandAt::Top, BandAt::Middle][(i / 4) % 3];
        match i % 4 {
            0 => Layout::Band(band),
            1 => Layout::Split,
            2 => Layout::Frame,
            _ => Layout::Poster,
        }
    }
}

/// What one variation says.
pub(super) struct Copy<'a> {
    pub headline: &'a str,
    pub cta: &'a str,
    pub brand: &'a str,
}

/// A rectangle: x, y, width, height.
type Rect = (f32, f32, f32, f32);

/// `template` scaled to cover `w` x `h`, centred, the overflow cut.
pub(super) fn cover(template: &RgbaImage, w: u32, h: u32) -> RgbaImage {
    let (tw, th) = template.dimensions();
    let scale = (w as f32 / tw as f32).max(h as f32 / th as f32);
    let cw = ((w as f32 / scale).round() as u32).clamp(1, tw);
    let ch = ((h as f32 / scale).round() as u32).clamp(1, th);
    let crop = imageops::crop_imm(template, (tw - cw) / 2, (th - ch) / 2, cw, ch).to_image();
    imageops::resize(&crop, w.max(1), h.max(1), FilterType::Triangle)
}

/// Renders one variation on a `w` x `h` canvas.
pub(super) fn render(
    template: &RgbaImage,
    (w, h): (u32, u32),
    layout: Layout,
    look: &Look,
    copy: &Copy<'_>,
    font: &FontRef<'_>,
    missing: &mut bool,
) -> RgbaImage {
    let (wf, hf) = (w as f32, h as f32);
    let short = wf.min(hf);
    let mut img;
    // Where the copy goes, and the tag's corner (top or bottom).
    // The tag's inset from the edge: inside the picture for a frame.
    let mut tag_inset = short * 0.04;
    let (text_box, text_color, tag_top);
    match layout {
        Layout::Band(at) => {
            img = cover(template, w, h);
            let band_h = (hf * 0.34).round();
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
            let strip = (short / 120.0).round().max(1.0);
            let strip_y = if at == BandAt::Top {
                band_y + band_h - strip
            } else {
                band_y
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
            let pad = short * 0.06;
            text_box = (
                pad,
                band_y + strip + pad * 0.6,
                wf - 2.0 * pad,
                band_h - strip - pad * 1.2,
            );
            text_color = look.text;
            tag_top = at != BandAt::Top;
        }
        Layout::Split => {
            img =
                RgbaImage::from_pixel(w, h, Rgba([look.band[0], look.band[1], look.band[2], 255]));
            let pad = short * 0.07;
            if wf >= hf * 1.2 {
                // Landscape: picture left, copy right.
                let pw = (wf * 0.5).round() as u32;
                imageops::overlay(&mut img, &cover(template, pw, h), 0, 0);
                text_box = (
                    pw as f32 + pad,
                    pad * 1.8,
                    wf - pw as f32 - 2.0 * pad,
                    hf - pad * 2.6,
                );
            } else {
                // Square and tall: picture on top, copy below.
                let ph = (hf * 0.58).round() as u32;
                imageops::overlay(&mut img, &cover(template, w, ph), 0, 0);
                fill_rect(
                    &mut img,
                    0.0,
                    ph as f32,
                    wf,
                    ph as f32 + (short / 120.0).max(1.0),
                    look.accent,
                    1.0,
                );
                text_box = (
                    pad,
                    ph as f32 + pad * 0.8,
                    wf - 2.0 * pad,
                    hf - ph as f32 - pad * 1.6,
                );
            }
            text_color = look.text;
            tag_top = true;
        }
        Layout::Frame => {
            img =
                RgbaImage::from_pixel(w, h, Rgba([look.band[0], look.band[1], look.band[2], 255]));
            let m = (short * 0.06).round();
            let copy_h = (hf * 0.30).round();
            let pw = (wf - 2.0 * m).max(1.0) as u32;
            let ph = (hf - 2.0 * m - copy_h).max(1.0) as u32;
            // A thin accent outline around the picture.
            let o = (short / 160.0).round().max(1.0);
            fill_rect(
                &mut img,
                m - o,
                m - o,
                m + pw as f32 + o,
                m + ph as f32 + o,
                look.accent,
                1.0,
            );
            imageops::overlay(&mut img, &cover(template, pw, ph), m as i64, m as i64);
            text_box = (m, m + ph as f32 + m * 0.5, wf - 2.0 * m, copy_h - m * 0.2);
            text_color = look.text;
            tag_top = true;
            tag_inset = m + short * 0.03;
        }
        Layout::Poster => {
            img = cover(template, w, h);
            // Darken towards the band colour so large light copy reads.
            let shade = look.band;
            for p in img.pixels_mut() {
                over(p, shade, 0.62);
            }
            let pad = short * 0.09;
            text_box = (pad, hf * 0.22, wf - 2.0 * pad, hf * 0.56);
            text_color = black_or_white(shade);
            tag_top = true;
        }
    }
    copy_block(
        &mut img,
        font,
        copy,
        text_box,
        text_color,
        look,
        layout == Layout::Poster,
        missing,
    );
    brand_tag(
        &mut img,
        font,
        copy.brand,
        look,
        (tag_top, tag_inset),
        missing,
    );
    img
}

/// The headline and, under it, the call to action as a button, centred
/// together in `bx`; the headline takes the largest size that fits.
#[allow(clippy::too_many_arguments)]
fn copy_block(
    img: &mut RgbaImage,
    font: &FontRef<'_>,
    copy: &Copy<'_>,
    (bx, by, bw, bh): Rect,
    color: Rgb,
    look: &Look,
    large: bool,
    missing: &mut bool,
) {
    if bw < 8.0 || bh < 8.0 {
        return;
    }
    let (iw, ih) = img.dimensions();
    let short = (iw.min(ih)) as f32;
    let cta_size = (short * 0.036).max(6.0);
    let cta_h = cta_size * 2.2;
    let gap = cta_size * 0.9;
    let room = (bh - cta_h - gap).max(bh * 0.4);
    let max_size = if large { short * 0.105 } else { short * 0.075 };
    let (size, lines) = fit(font, copy.headline, bw, room, max_size);
    let lh = line_height(font, size);
    let text_h = lines.len() as f32 * lh;
    let total = text_h + gap + cta_h;
    let mut y = by + ((bh - total) / 2.0).max(0.0);
    let ascent = font.as_scaled(PxScale::from(size)).ascent();
    for line in &lines {
        let lw = measure(font, size, line);
        let x = bx + (bw - lw).max(0.0) / 2.0;
        super::draw_line(img, font, size, line, (x, y + ascent), color, missing);
        y += lh;
    }
    y += gap;
    // The button: accent fill, rounded ends, label in black or white.
    let label_w = measure(font, cta_size, copy.cta);
    let bw_btn = (label_w + cta_size * 2.4).min(bw);
    let x0 = bx + (bw - bw_btn) / 2.0;
    if y + cta_h <= by + bh + cta_h * 0.5 {
        fill_round_rect(img, (x0, y, bw_btn, cta_h), cta_h / 2.0, look.accent);
        let s = font.as_scaled(PxScale::from(cta_size));
        let baseline = y + (cta_h + s.ascent() + s.descent()) / 2.0;
        let lx = x0 + (bw_btn - label_w).max(0.0) / 2.0;
        super::draw_line(
            img,
            font,
            cta_size,
            copy.cta,
            (lx, baseline),
            black_or_white(look.accent),
            missing,
        );
    }
}

/// The largest size up to `max_size` at which `text`, wrapped, fits `bw` x `bh`.
fn fit(font: &FontRef<'_>, text: &str, bw: f32, bh: f32, max_size: f32) -> (f32, Vec<String>) {
    const MIN_SIZE: f32 = 4.0;
    let mut size = max_size.max(MIN_SIZE);
    let mut lines = wrap(font, size, text, bw);
    // Bounded: 0.9^40 < 2%.
    for _ in 0..40 {
        let fits = lines.len() as f32 * line_height(font, size) <= bh
            && lines.iter().all(|l| measure(font, size, l) <= bw);
        if fits || size <= MIN_SIZE {
            break;
        }
        size = (size * 0.9).max(MIN_SIZE);
        lines = wrap(font, size, text, bw);
    }
    (size, lines)
}

/// The brand's name on an accent tag, in a top or bottom left corner.
fn brand_tag(
    img: &mut RgbaImage,
    font: &FontRef<'_>,
    name: &str,
    look: &Look,
    (top, margin): (bool, f32),
    missing: &mut bool,
) {
    let (w, h) = img.dimensions();
    let (wf, hf) = (w as f32, h as f32);
    let short = wf.min(hf);
    let mut size = short * 0.032;
    if name.is_empty() || size < 6.0 {
        return;
    }
    let room = wf - 2.0 * margin;
    let mut tag_w = measure(font, size, name) + size * 1.4;
    if tag_w > room {
        size *= room / tag_w;
        tag_w = measure(font, size, name) + size * 1.4;
    }
    if size < 6.0 {
        return;
    }
    let s = font.as_scaled(PxScale::from(size));
    let tag_h = s.ascent() - s.descent() + size * 0.8;
    let y = if top { margin } else { hf - margin - tag_h };
    fill_round_rect(img, (margin, y, tag_w, tag_h), tag_h * 0.25, look.accent);
    let baseline = y + (tag_h + s.ascent() + s.descent()) / 2.0;
    super::draw_line(
        img,
        font,
        size,
        name,
        (margin + size * 0.7, baseline),
        black_or_white(look.accent),
        missing,
    );
}

/// Paints a rectangle with rounded corners of radius `r`, edges antialiased.
fn fill_round_rect(img: &mut RgbaImage, (x, y, w, h): Rect, r: f32, c: Rgb) {
    let (iw, ih) = img.dimensions();
    let r = r.min(w / 2.0).min(h / 2.0).max(0.0);
    let x0 = x.floor().max(0.0) as u32;
    let y0 = y.floor().max(0.0) as u32;
    let x1 = ((x + w).ceil().max(0.0) as u32).min(iw);
    let y1 = ((y + h).ceil().max(0.0) as u32).min(ih);
    for py in y0..y1 {
        for px in x0..x1 {
            let (cx, cy) = (px as f32 + 0.5, py as f32 + 0.5);
            // Distance outside the rounded shape, for a one-pixel soft edge.
            let dx = (x + r - cx).max(cx - (x + w - r)).max(0.0);
            let dy = (y + r - cy).max(cy - (y + h - r)).max(0.0);
            let d = (dx * dx + dy * dy).sqrt() - r;
            let inside_x = cx >= x && cx <= x + w;
            let inside_y = cy >= y && cy <= y + h;
            let a = if dx > 0.0 || dy > 0.0 {
                (0.5 - d).clamp(0.0, 1.0)
            } else if inside_x && inside_y {
                1.0
            } else {
                0.0
            };
            if a > 0.0 {
                over(img.get_pixel_mut(px, py), c, a);
            }
        }
    }
}
