//! Draws the bundled template pool (`templates/*.png`): six flat product
//! scenes at 1080x1080 that the local generator turns into demo ads. The
//! pictures are code so that they can be changed and reviewed like code.
//!
//! ```text
//! cargo run --release --example make_templates [-- OUT_DIR]   # default: templates
//! ```

use image::{Rgb, RgbImage};

const S: u32 = 1080;

type Color = [u8; 3];

/// A package's colours: body, cap or lid, label.
type Paint = (Color, Color, Color);

/// A template's file name and how to draw it.
type Template = (&'static str, fn() -> Canvas);

fn hex(s: &str) -> Color {
    let v = u32::from_str_radix(s.trim_start_matches('#'), 16).expect("a hex colour");
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

/// A canvas painted shape by shape; each shape is a signed distance
/// (negative inside) so edges are antialiased.
struct Canvas(RgbImage);

impl Canvas {
    fn new(c: Color) -> Canvas {
        Canvas(RgbImage::from_pixel(S, S, Rgb(c)))
    }

    /// Paints where `d(x, y) < 0` inside the box (x0, y0, x1, y1), blended by coverage.
    fn shape(
        &mut self,
        bbox: (f32, f32, f32, f32),
        c: Color,
        alpha: f32,
        d: impl Fn(f32, f32) -> f32,
    ) {
        let (x0, y0, x1, y1) = bbox;
        let clamp = |v: f32| v.max(0.0).min(S as f32) as u32;
        for y in clamp(y0 - 1.0)..clamp(y1 + 1.0) {
            for x in clamp(x0 - 1.0)..clamp(x1 + 1.0) {
                let a = (0.5 - d(x as f32 + 0.5, y as f32 + 0.5)).clamp(0.0, 1.0) * alpha;
                if a > 0.0 {
                    let p = self.0.get_pixel_mut(x, y);
                    for ch in 0..3 {
                        p[ch] = (f32::from(c[ch]) * a + f32::from(p[ch]) * (1.0 - a)).round() as u8;
                    }
                }
            }
        }
    }

    fn all(&mut self, c: Color, alpha: f32, d: impl Fn(f32, f32) -> f32) {
        self.shape((0.0, 0.0, S as f32, S as f32), c, alpha, d);
    }

    fn circle(&mut self, cx: f32, cy: f32, r: f32, c: Color) {
        self.shape((cx - r, cy - r, cx + r, cy + r), c, 1.0, move |x, y| {
            ((x - cx).powi(2) + (y - cy).powi(2)).sqrt() - r
        });
    }

    fn ring(&mut self, cx: f32, cy: f32, r: f32, width: f32, c: Color) {
        self.shape(
            (
                cx - r - width,
                cy - r - width,
                cx + r + width,
                cy + r + width,
            ),
            c,
            1.0,
            move |x, y| (((x - cx).powi(2) + (y - cy).powi(2)).sqrt() - r).abs() - width / 2.0,
        );
    }

    fn ellipse(&mut self, cx: f32, cy: f32, rx: f32, ry: f32, c: Color, alpha: f32) {
        self.shape(
            (cx - rx, cy - ry, cx + rx, cy + ry),
            c,
            alpha,
            move |x, y| {
                let k = (((x - cx) / rx).powi(2) + ((y - cy) / ry).powi(2)).sqrt();
                (k - 1.0) * rx.min(ry)
            },
        );
    }

    /// A rectangle with rounded corners: x, y, width, height, radius.
    fn rounded(&mut self, (x, y, w, h): (f32, f32, f32, f32), r: f32, c: Color) {
        let (cx, cy, hw, hh) = (x + w / 2.0, y + h / 2.0, w / 2.0, h / 2.0);
        self.shape((x, y, x + w, y + h), c, 1.0, move |px, py| {
            let qx = (px - cx).abs() - (hw - r);
            let qy = (py - cy).abs() - (hh - r);
            let outside = (qx.max(0.0).powi(2) + qy.max(0.0).powi(2)).sqrt();
            outside + qx.max(qy).min(0.0) - r
        });
    }

    /// Everything below the wave `y = base + amp * sin(x / len + phase)`.
    fn wave(&mut self, base: f32, amp: f32, len: f32, phase: f32, c: Color) {
        self.shape(
            (0.0, base - amp, S as f32, S as f32),
            c,
            1.0,
            move |x, y| base + amp * (x / len + phase).sin() - y,
        );
    }

    /// Horizontal bands from `top` to `bottom` colours, in `steps` flat steps.
    fn bands(&mut self, top: Color, bottom: Color, steps: u32) {
        let h = S as f32 / steps as f32;
        for i in 0..steps {
            let t = i as f32 / (steps - 1).max(1) as f32;
            let c = [0, 1, 2].map(|ch| {
                (f32::from(top[ch]) * (1.0 - t) + f32::from(bottom[ch]) * t).round() as u8
            });
            let y0 = i as f32 * h;
            self.shape((0.0, y0, S as f32, y0 + h), c, 1.0, move |_, y| {
                (y0 - y).max(y - (y0 + h))
            });
        }
    }

    /// A bottle: body, shoulder, neck, cap and a label, standing on `base`.
    fn bottle(&mut self, cx: f32, base: f32, (w, h): (f32, f32), (body, cap, label): Paint) {
        self.ellipse(cx, base, w * 0.75, w * 0.12, [0, 0, 0], 0.18);
        self.rounded((cx - w / 2.0, base - h * 0.72, w, h * 0.72), w * 0.22, body);
        self.rounded(
            (cx - w * 0.2, base - h * 0.88, w * 0.4, h * 0.22),
            w * 0.08,
            body,
        );
        self.rounded((cx - w * 0.24, base - h, w * 0.48, h * 0.14), w * 0.05, cap);
        self.rounded(
            (cx - w * 0.42, base - h * 0.5, w * 0.84, h * 0.26),
            w * 0.04,
            label,
        );
    }

    /// A jar: wide body, lid and a label, standing on `base`.
    fn jar(&mut self, cx: f32, base: f32, (w, h): (f32, f32), (body, lid, label): Paint) {
        self.ellipse(cx, base, w * 0.7, w * 0.1, [0, 0, 0], 0.18);
        self.rounded((cx - w / 2.0, base - h * 0.82, w, h * 0.82), w * 0.12, body);
        self.rounded((cx - w * 0.54, base - h, w * 1.08, h * 0.22), w * 0.06, lid);
        self.rounded((cx - w * 0.5, base - h * 0.58, w, h * 0.3), 0.0, label);
    }
}

fn summer_01() -> Canvas {
    // Sunset over the sea, a jar on the sand.
    let mut c = Canvas::new(hex("#FFD6A5"));
    c.bands(hex("#FFB4A2"), hex("#FFE5B4"), 9);
    c.circle(740.0, 430.0, 150.0, hex("#FFF3B0"));
    c.wave(600.0, 14.0, 70.0, 0.0, hex("#4CC9F0"));
    c.wave(650.0, 12.0, 55.0, 1.3, hex("#4895EF"));
    c.wave(720.0, 10.0, 90.0, 2.1, hex("#F6D6A8"));
    c.jar(
        300.0,
        930.0,
        (220.0, 260.0),
        (hex("#FFFFFF"), hex("#F4A261"), hex("#E76F51")),
    );
    c
}

fn summer_02() -> Canvas {
    // Citrus: a big lemon slice and drops on mint.
    let mut c = Canvas::new(hex("#CDEFE3"));
    c.circle(700.0, 380.0, 250.0, hex("#FFE066"));
    c.circle(700.0, 380.0, 215.0, hex("#FFF5CC"));
    for k in 0..8 {
        let a = k as f32 * std::f32::consts::PI / 4.0;
        let (cx, cy) = (700.0 + 110.0 * a.cos(), 380.0 + 110.0 * a.sin());
        c.ellipse(cx, cy, 70.0, 70.0, hex("#FFD43B"), 1.0);
    }
    c.circle(700.0, 380.0, 22.0, hex("#FFF5CC"));
    for (x, y, r) in [
        (220.0, 200.0, 26.0),
        (320.0, 330.0, 16.0),
        (160.0, 420.0, 20.0),
        (900.0, 760.0, 18.0),
    ] {
        c.circle(x, y, r, hex("#9AE6CF"));
    }
    c.rounded((0.0, 820.0, 1080.0, 260.0), 0.0, hex("#A7E8D2"));
    c.bottle(
        300.0,
        900.0,
        (170.0, 420.0),
        (hex("#2A9D8F"), hex("#264653"), hex("#E9F5F2")),
    );
    c
}

fn bold_01() -> Canvas {
    // A diagonal split in two strong colours, a bottle in a ring.
    let mut c = Canvas::new(hex("#F72585"));
    c.all(hex("#FF9E00"), 1.0, |x, y| x + y - 1080.0);
    c.ring(540.0, 520.0, 300.0, 26.0, hex("#FFFFFF"));
    c.bottle(
        540.0,
        860.0,
        (200.0, 500.0),
        (hex("#3A0CA3"), hex("#FFFFFF"), hex("#FFD60A")),
    );
    c
}

fn bold_02() -> Canvas {
    // Confetti on deep purple, a product box in the middle.
    let mut c = Canvas::new(hex("#3C096C"));
    let colors = ["#FF6D00", "#FFD60A", "#4CC9F0", "#F72585", "#80FFDB"].map(hex);
    let mut seed: u32 = 7;
    for _ in 0..90 {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let x = (seed >> 8) % S;
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let y = (seed >> 8) % S;
        let r = 8.0 + ((seed >> 4) % 14) as f32;
        c.circle(
            x as f32,
            y as f32,
            r,
            colors[(seed as usize >> 3) % colors.len()],
        );
    }
    c.ellipse(540.0, 850.0, 260.0, 40.0, [0, 0, 0], 0.3);
    c.rounded((330.0, 330.0, 420.0, 520.0), 24.0, hex("#FFFFFF"));
    c.rounded((330.0, 330.0, 420.0, 120.0), 24.0, hex("#FF6D00"));
    c.rounded((330.0, 410.0, 420.0, 40.0), 0.0, hex("#FF6D00"));
    c.circle(540.0, 620.0, 110.0, hex("#7B2CBF"));
    c.circle(540.0, 620.0, 60.0, hex("#FFD60A"));
    c
}

fn minimal_01() -> Canvas {
    // Off-white, a soft shadow, a tall bottle and a leaf.
    let mut c = Canvas::new(hex("#F5F1EB"));
    c.rounded((0.0, 760.0, 1080.0, 320.0), 0.0, hex("#ECE5DA"));
    c.ellipse(700.0, 420.0, 90.0, 240.0, hex("#8AB17D"), 1.0);
    c.shape((690.0, 300.0, 712.0, 800.0), hex("#6A994E"), 1.0, |x, _| {
        (x - 701.0).abs() - 5.0
    });
    c.bottle(
        480.0,
        820.0,
        (190.0, 560.0),
        (hex("#FFFFFF"), hex("#BC6C25"), hex("#DDA15E")),
    );
    c
}

fn lifestyle_01() -> Canvas {
    // A breakfast table from above: planks, a bowl, a mug and a jar.
    let mut c = Canvas::new(hex("#C08552"));
    for i in 0..6 {
        let y = i as f32 * 180.0;
        let shade = if i % 2 == 0 {
            hex("#B5773F")
        } else {
            hex("#C8915E")
        };
        c.rounded((0.0, y + 4.0, 1080.0, 172.0), 6.0, shade);
    }
    c.circle(300.0, 330.0, 200.0, hex("#FFFFFF"));
    c.circle(300.0, 330.0, 160.0, hex("#F6E7CB"));
    for (x, y, col) in [
        (250.0, 290.0, "#E63946"),
        (340.0, 360.0, "#6A4C93"),
        (300.0, 250.0, "#E63946"),
        (230.0, 390.0, "#6A4C93"),
    ] {
        c.circle(x, y, 26.0, hex(col));
    }
    c.circle(820.0, 280.0, 120.0, hex("#264653"));
    c.circle(820.0, 280.0, 92.0, hex("#6F4E37"));
    c.rounded((930.0, 255.0, 70.0, 50.0), 20.0, hex("#264653"));
    c.jar(
        700.0,
        900.0,
        (240.0, 280.0),
        (hex("#FFFFFF"), hex("#2A9D8F"), hex("#E9C46A")),
    );
    c
}

fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "templates".into());
    std::fs::create_dir_all(&out).expect("the output folder");
    let all: [Template; 6] = [
        ("summer-01.png", summer_01),
        ("summer-02.png", summer_02),
        ("bold-01.png", bold_01),
        ("bold-02.png", bold_02),
        ("minimal-01.png", minimal_01),
        ("lifestyle-01.png", lifestyle_01),
    ];
    for (name, draw) in all {
        let path = std::path::Path::new(&out).join(name);
        draw().0.save(&path).expect("write the PNG");
        println!("{}", path.display());
    }
}
