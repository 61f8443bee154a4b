//! The weekly findings chart of a renewal report: findings opened and closed per
//! week as grouped bars, money flagged as a line on a second axis, as a PNG.
//!
//! Rendering is CPU-bound (a fraction of a second) and touches neither the disk nor
//! system fonts: text is drawn with the bundled DejaVu Sans, and the PNG is encoded
//! in memory. Call it from `spawn_blocking` when on the async runtime.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, ScaleFont, point};
use chrono::{Datelike, NaiveDate};
use image::ImageEncoder;
use image::codecs::png::PngEncoder;
use plotters::backend::{BitMapBackend, RGBPixel};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::*;
use plotters::style::register_font;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendTextStyle, DrawingBackend, DrawingErrorKind,
};

/// Width of the rendered chart in pixels.
pub const WIDTH: u32 = 960;
/// Height of the rendered chart in pixels.
pub const HEIGHT: u32 = 480;

/// One week of a client's findings history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeeklyPoint {
    /// The first day of the week.
    pub week_start: NaiveDate,
    /// Findings opened during the week.
    pub opened: u32,
    /// Findings closed during the week.
    pub closed: u32,
    /// Money at stake in the findings flagged that week, in minor currency units (cents).
    pub flagged_minor: i64,
}

/// Why a chart could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// The bundled font was rejected by the font parser.
    #[error("the bundled chart font (DejaVu Sans) could not be loaded")]
    Font,
    /// Plotters failed while drawing into the pixel buffer.
    #[error("drawing the chart failed: {0}")]
    Draw(String),
    /// The finished pixel buffer could not be encoded as PNG.
    #[error("encoding the chart as PNG failed: {0}")]
    Encode(#[from] image::ImageError),
}

/// The family every text style below asks for. Plotters' own defaults (axis and
/// legend labels) also ask for "sans-serif", so registering the bundled font under
/// this name covers them too.
const FONT_FAMILY: &str = "sans-serif";
/// DejaVu Sans, bundled so the chart looks the same everywhere and needs no
/// fontconfig; licence in assets/fonts/LICENSE-DejaVu.txt.
static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

const BACKGROUND: RGBColor = RGBColor(255, 255, 255);
const INK: RGBColor = RGBColor(40, 40, 48);
const MUTED: RGBColor = RGBColor(110, 110, 120);
const GRID: RGBColor = RGBColor(228, 228, 234);
const OPENED: RGBColor = RGBColor(76, 120, 168);
const CLOSED: RGBColor = RGBColor(84, 162, 75);
const FLAGGED: RGBColor = RGBColor(228, 87, 86);

const TITLE_SIZE: u32 = 22;
const LABEL_SIZE: u32 = 14;
const AXIS_DESC_SIZE: u32 = 14;
/// Beyond this many week labels the x axis gets crowded, so only every n-th week is named.
const MAX_WEEK_LABELS: usize = 14;
/// Titles are cut to this many characters before measuring, so a pathological
/// title costs bounded work.
const MAX_TITLE_CHARS: usize = 160;

/// Renders the weekly chart for `points` (any order; drawn chronologically) as PNG bytes.
///
/// `currency` is an ISO 4217 code such as "USD"; amounts in `flagged_minor` are
/// divided by the currency's minor unit (100 for most). Empty `points` renders a
/// chart that says there were no findings.
pub fn weekly_chart(
    title: &str,
    currency: &str,
    points: &[WeeklyPoint],
) -> Result<Vec<u8>, ChartError> {
    let font = font()?;
    // Three bytes a pixel (RGB); `with_buffer_and_format` checks the size again
    // and returns an error rather than panicking if this ever disagrees.
    let mut pixels = vec![0u8; WIDTH as usize * HEIGHT as usize * 3];
    {
        let bitmap =
            BitMapBackend::<RGBPixel>::with_buffer_and_format(&mut pixels, (WIDTH, HEIGHT))
                .map_err(|e| ChartError::Draw(e.to_string()))?;
        let root = GlyphBackend {
            inner: bitmap,
            font,
        }
        .into_drawing_area();
        root.fill(&BACKGROUND).map_err(draw_err)?;
        let title_style = TextStyle::from((FONT_FAMILY, TITLE_SIZE)).color(&INK);
        let title = fit_title(&root, title, &title_style);
        let body = root
            .titled(&title, title_style)
            .map_err(draw_err)?
            .margin(4, 10, 12, 12);
        if points.is_empty() {
            draw_empty(&body)?;
        } else {
            let mut points = points.to_vec();
            points.sort_by_key(|p| p.week_start);
            draw_weeks(&body, &Money::new(currency), &points)?;
        }
        root.present().map_err(draw_err)?;
    }
    let mut png = Vec::new();
    PngEncoder::new(&mut png).write_image(&pixels, WIDTH, HEIGHT, image::ColorType::Rgb8)?;
    Ok(png)
}

/// Parses the bundled font once per process, and registers it with plotters
/// under `FONT_FAMILY` so any text plotters measures itself uses the same face.
fn font() -> Result<&'static FontRef<'static>, ChartError> {
    static FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FONT.get_or_init(|| {
        let font = FontRef::try_from_slice(FONT_BYTES).ok()?;
        register_font(FONT_FAMILY, FontStyle::Normal, FONT_BYTES).ok()?;
        Some(font)
    })
    .as_ref()
    .ok_or(ChartError::Font)
}

fn draw_err(e: impl std::fmt::Display) -> ChartError {
    ChartError::Draw(e.to_string())
}

type Area<'a> = DrawingArea<GlyphBackend<'a>, Shift>;

/// The bitmap backend with its text drawn by laying glyphs out here: plotters 0.3's
/// ab_glyph text ignores each glyph's side bearing and places the baseline by
/// guesswork, so labels came out squeezed and off-centre. Everything but text is
/// passed straight through.
struct GlyphBackend<'a> {
    inner: BitMapBackend<'a, RGBPixel>,
    font: &'static FontRef<'static>,
}

/// One line of text laid out at a pixel size: where each glyph goes, relative to
/// the top-left of the line box.
struct Line {
    glyphs: Vec<ab_glyph::Glyph>,
    width: f32,
    height: f32,
}

impl GlyphBackend<'_> {
    fn layout(&self, text: &str, size: f64) -> Line {
        let scaled = self.font.as_scaled(size as f32);
        let ascent = scaled.ascent();
        let mut caret = 0.0f32;
        let mut prev = None;
        let glyphs = text
            .chars()
            .map(|c| {
                // A character the font lacks maps to its .notdef box, never a panic.
                let mut glyph = scaled.scaled_glyph(c);
                if let Some(prev) = prev {
                    caret += scaled.kern(prev, glyph.id);
                }
                prev = Some(glyph.id);
                glyph.position = point(caret, ascent);
                caret += scaled.h_advance(glyph.id);
                glyph
            })
            .collect();
        Line {
            glyphs,
            width: caret,
            height: ascent - scaled.descent(),
        }
    }
}

impl DrawingBackend for GlyphBackend<'_> {
    type ErrorType = <BitMapBackend<'static, RGBPixel> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: plotters_backend::BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: plotters_backend::BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: plotters_backend::BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_path(path, style)
    }

    fn draw_circle<S: plotters_backend::BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: plotters_backend::BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.fill_polygon(vert, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        let line = self.layout(text, style.size());
        Ok((line.width.ceil() as u32, line.height.ceil() as u32))
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let line = self.layout(text, style.size());
        let anchor = style.anchor();
        let dx = match anchor.h_pos {
            HPos::Left => 0.0,
            HPos::Center => -line.width / 2.0,
            HPos::Right => -line.width,
        };
        let dy = match anchor.v_pos {
            VPos::Top => 0.0,
            VPos::Center => -line.height / 2.0,
            VPos::Bottom => -line.height,
        };
        let transform = style.transform();
        let mut result = Ok(());
        for glyph in line.glyphs {
            let Some(outline) = self.font.outline_glyph(glyph) else {
                continue; // spaces and other blank glyphs have no outline
            };
            let bounds = outline.px_bounds();
            let (left, top) = (
                (bounds.min.x + dx).round() as i32,
                (bounds.min.y + dy).round() as i32,
            );
            outline.draw(|x, y, coverage| {
                if coverage <= 0.0 || result.is_err() {
                    return;
                }
                // Rotation (the vertical axis titles) turns the glyph about the anchor.
                let (x, y) = transform.transform(left + x as i32, top + y as i32);
                let shaded = BackendColor {
                    alpha: color.alpha * f64::from(coverage.min(1.0)),
                    rgb: color.rgb,
                };
                result = self.inner.draw_pixel((pos.0 + x, pos.1 + y), shaded);
            });
        }
        result
    }
}

/// Makes the title safe to draw on one line: control characters (newlines, tabs)
/// become spaces, and a title wider than the chart is cut with an ellipsis.
fn fit_title(area: &Area<'_>, title: &str, style: &TextStyle<'_>) -> String {
    let mut chars: Vec<char> = title
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_TITLE_CHARS)
        .collect();
    let cut = title.chars().nth(MAX_TITLE_CHARS).is_some();
    let max_width = WIDTH.saturating_sub(40);
    let render = |chars: &[char], cut: bool| {
        let mut s: String = chars.iter().collect::<String>().trim_end().to_string();
        if cut {
            s.push('…');
        }
        s
    };
    let mut text = render(&chars, cut);
    // A measuring error leaves the title as is; the drawing step reports real failures.
    while !chars.is_empty()
        && area
            .estimate_text_size(&text, style)
            .is_ok_and(|(w, _)| w > max_width)
    {
        chars.pop();
        text = render(&chars, true);
    }
    text
}

fn draw_empty(area: &Area<'_>) -> Result<(), ChartError> {
    let style = TextStyle::from((FONT_FAMILY, 20))
        .color(&MUTED)
        .pos(Pos::new(HPos::Center, VPos::Center));
    let (w, h) = area.dim_in_pixel();
    area.draw(&Rectangle::new(
        [(0, 0), (w as i32 - 1, h as i32 - 1)],
        GRID.stroke_width(1),
    ))
    .map_err(draw_err)?;
    area.draw_text(
        "No findings in this period",
        &style,
        (w as i32 / 2, h as i32 / 2),
    )
    .map_err(draw_err)
}

fn draw_weeks(area: &Area<'_>, money: &Money, points: &[WeeklyPoint]) -> Result<(), ChartError> {
    let (legend_area, plot_area) = area.split_vertically(30);
    draw_legend(&legend_area, money)?;

    let n = points.len();
    let x_axis = WeekAxis::new(n);

    let max_count = points
        .iter()
        .map(|p| u64::from(p.opened.max(p.closed)))
        .max()
        .unwrap_or(0);
    // Headroom above the tallest bar; at least 0..5 so an all-zero series has an axis.
    let count_top = (max_count + max_count / 8 + 1).max(5);

    let amounts: Vec<f64> = points
        .iter()
        .map(|p| money.major(p.flagged_minor))
        .collect();
    let (money_lo, money_hi) = money_range(&amounts);

    let label_style = TextStyle::from((FONT_FAMILY, LABEL_SIZE)).color(&INK);
    let desc_style = TextStyle::from((FONT_FAMILY, AXIS_DESC_SIZE)).color(&MUTED);

    let mut chart = ChartBuilder::on(&plot_area)
        .margin_top(6)
        .x_label_area_size(42)
        .y_label_area_size(64)
        .right_y_label_area_size(80)
        .build_cartesian_2d(x_axis.clone(), 0u64..count_top)
        .map_err(draw_err)?
        .set_secondary_coord(x_axis, money_lo..money_hi);

    let week_label = |x: &f64| -> String {
        let i = x.round();
        if i < 0.0 || (x - i).abs() > 1e-6 {
            return String::new();
        }
        points
            .get(i as usize)
            .map(|p| p.week_start.format("%b %-d").to_string())
            .unwrap_or_default()
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(GRID)
        .axis_style(MUTED)
        .y_labels(6)
        .x_label_formatter(&week_label)
        .y_label_formatter(&|v: &u64| compact_count(*v))
        .label_style(label_style.clone())
        .axis_desc_style(desc_style.clone())
        .x_desc(week_axis_desc(points))
        .y_desc("Findings per week")
        .draw()
        .map_err(draw_err)?;
    chart
        .configure_secondary_axes()
        .axis_style(MUTED)
        .y_labels(6)
        .y_label_formatter(&|v: &f64| money.format(*v))
        .label_style(label_style)
        .axis_desc_style(desc_style)
        .y_desc(format!("Flagged ({})", money.code_or_default()))
        .draw()
        .map_err(draw_err)?;

    let bar_half = 0.36;
    let gap = 0.02;
    chart
        .draw_series(points.iter().enumerate().map(|(i, p)| {
            let x = i as f64;
            Rectangle::new(
                [(x - bar_half, u64::from(p.opened)), (x - gap, 0)],
                OPENED.filled(),
            )
        }))
        .map_err(draw_err)?;
    chart
        .draw_series(points.iter().enumerate().map(|(i, p)| {
            let x = i as f64;
            Rectangle::new(
                [(x + gap, u64::from(p.closed)), (x + bar_half, 0)],
                CLOSED.filled(),
            )
        }))
        .map_err(draw_err)?;

    let line: Vec<(f64, f64)> = amounts
        .iter()
        .enumerate()
        .map(|(i, v)| (i as f64, *v))
        .collect();
    chart
        .draw_secondary_series(LineSeries::new(
            line.iter().copied(),
            FLAGGED.stroke_width(2),
        ))
        .map_err(draw_err)?;
    // Smaller markers when weeks are narrow, so neighbours do not merge into a band.
    let radius = if n > 30 { 2 } else { 4 };
    chart
        .draw_secondary_series(
            line.iter()
                .map(|&(x, y)| Circle::new((x, y), radius, FLAGGED.filled())),
        )
        .map_err(draw_err)?;
    Ok(())
}

/// The week axis: week i is centred on x = i, and the half-week either side holds
/// its two bars. Ticks sit on whole weeks only (plotters' own f64 ticks could land
/// between weeks), thinned out when there are too many to label.
#[derive(Clone)]
struct WeekAxis {
    weeks: usize,
    ticks: Vec<f64>,
}

impl WeekAxis {
    fn new(weeks: usize) -> Self {
        let step = weeks.div_ceil(MAX_WEEK_LABELS).max(1);
        let ticks = (0..weeks).step_by(step).map(|i| i as f64).collect();
        Self { weeks, ticks }
    }
}

impl Ranged for WeekAxis {
    // Labels always come from the chart's own formatter; this default is unused.
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let range = self.range();
        // At least one week is drawn, so the span is at least 1.
        let span = (range.end - range.start).max(1.0);
        let frac = (value - range.start) / span;
        limit.0 + (frac * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Light (unlabelled) mesh lines are not wanted on this axis.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        -0.5..(self.weeks as f64 - 0.5)
    }
}

/// Draws the legend as one centred row above the plot, where it cannot cover bars.
fn draw_legend(area: &Area<'_>, money: &Money) -> Result<(), ChartError> {
    let style = TextStyle::from((FONT_FAMILY, LABEL_SIZE)).color(&INK);
    let flagged = format!("Flagged ({})", money.code_or_default());
    let items: [(&str, RGBColor, bool); 3] = [
        ("Opened", OPENED, false),
        ("Closed", CLOSED, false),
        (&flagged, FLAGGED, true),
    ];
    let swatch = 22;
    let pad = 6;
    let spacing = 28;
    let widths: Vec<i32> = items
        .iter()
        .map(|(label, _, _)| {
            area.estimate_text_size(label, &style)
                .map(|(w, _)| w as i32)
                .unwrap_or(60)
        })
        .collect();
    let total: i32 =
        widths.iter().map(|w| swatch + pad + w).sum::<i32>() + spacing * (items.len() as i32 - 1);
    let (w, h) = area.dim_in_pixel();
    let mid = h as i32 / 2;
    let mut x = (w as i32 - total).max(0) / 2;
    for ((label, color, is_line), width) in items.iter().zip(widths) {
        if *is_line {
            area.draw(&PathElement::new(
                vec![(x, mid), (x + swatch, mid)],
                color.stroke_width(2),
            ))
            .map_err(draw_err)?;
            area.draw(&Circle::new((x + swatch / 2, mid), 4, color.filled()))
                .map_err(draw_err)?;
        } else {
            area.draw(&Rectangle::new(
                [(x + 4, mid - 7), (x + swatch - 4, mid + 7)],
                color.filled(),
            ))
            .map_err(draw_err)?;
        }
        let text_style = style.pos(Pos::new(HPos::Left, VPos::Center));
        area.draw_text(label, &text_style, (x + swatch + pad, mid))
            .map_err(draw_err)?;
        x += swatch + pad + width + spacing;
    }
    Ok(())
}

/// "Week starting" with the year(s) the series covers, since labels omit it.
fn week_axis_desc(points: &[WeeklyPoint]) -> String {
    match (points.first(), points.last()) {
        (Some(first), Some(last)) if first.week_start.year() != last.week_start.year() => {
            format!(
                "Week starting ({}–{})",
                first.week_start.year(),
                last.week_start.year()
            )
        }
        (Some(first), _) => format!("Week starting ({})", first.week_start.year()),
        _ => "Week starting".to_string(),
    }
}

/// The money axis: always includes zero, leaves headroom above the highest point
/// (and below the lowest, should a correction make a week negative), and is never
/// empty, since a zero-width range has no scale.
fn money_range(amounts: &[f64]) -> (f64, f64) {
    let lo = amounts.iter().copied().fold(0.0_f64, f64::min);
    let hi = amounts.iter().copied().fold(0.0_f64, f64::max);
    let span = hi - lo;
    if !span.is_finite() || span <= 0.0 {
        return (0.0, 100.0);
    }
    let lo = if lo < 0.0 { lo - span * 0.12 } else { 0.0 };
    (lo, hi + span * 0.12)
}

/// How amounts of one currency are scaled and labelled.
struct Money {
    /// The sanitised ISO code, empty when none was given.
    code: String,
    /// Minor units in one major unit, e.g. 100 cents to the dollar.
    minor_per_major: f64,
}

impl Money {
    fn new(currency: &str) -> Self {
        // Only the code's letters and digits are kept, so an odd input cannot
        // smuggle spaces or control characters into every label.
        let code: String = currency
            .trim()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(8)
            .collect::<String>()
            .to_ascii_uppercase();
        let minor_per_major = match minor_unit_digits(&code) {
            0 => 1.0,
            3 => 1000.0,
            _ => 100.0,
        };
        Self {
            code,
            minor_per_major,
        }
    }

    fn code_or_default(&self) -> &str {
        if self.code.is_empty() {
            "Amount"
        } else {
            &self.code
        }
    }

    fn major(&self, minor: i64) -> f64 {
        minor as f64 / self.minor_per_major
    }

    /// `$12.3k` for USD, `EUR 12.3k` for other codes, the bare number without one.
    fn format(&self, value: f64) -> String {
        let sign = if value < 0.0 { "-" } else { "" };
        let amount = compact(value.abs());
        match self.code.as_str() {
            "USD" => format!("{sign}${amount}"),
            "" => format!("{sign}{amount}"),
            code => format!("{sign}{code} {amount}"),
        }
    }
}

/// ISO 4217 minor-unit digits for the currencies that differ from the usual two.
fn minor_unit_digits(code: &str) -> u8 {
    match code {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// Counts as plain integers up to 9,999, compact above, so the axis stays narrow.
fn compact_count(v: u64) -> String {
    if v < 10_000 {
        v.to_string()
    } else {
        compact(v as f64)
    }
}

/// A non-negative number in at most four significant characters plus a suffix:
/// 950, 12.5, 12.3k, 4M, 461.2T; scientific beyond trillions.
fn compact(v: f64) -> String {
    if !v.is_finite() {
        return "?".to_string();
    }
    if v < 1000.0 {
        // Axis steps below 1 happen on small ranges; two decimals cover them.
        let s = format!("{v:.2}");
        return s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    let mut scaled = v;
    for suffix in ["k", "M", "B", "T"] {
        scaled /= 1000.0;
        // Rounded first, so 999,960 becomes 1M and not 1000k.
        let rounded = (scaled * 10.0).round() / 10.0;
        if rounded < 1000.0 {
            let s = format!("{rounded:.1}");
            return format!("{}{suffix}", s.trim_end_matches(".0"));
        }
    }
    format!("{v:.1e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("test dates are valid")
    }

    /// Thirteen weeks shaped like a real renewal: a burst of findings after
    /// onboarding that the team works down, with money at risk falling behind it.
    fn thirteen_weeks() -> Vec<WeeklyPoint> {
        let opened = [14, 9, 11, 7, 8, 5, 6, 4, 5, 3, 4, 2, 3];
        let closed = [3, 8, 10, 9, 7, 8, 5, 6, 4, 5, 3, 4, 2];
        let flagged = [
            1_842_000, 1_310_050, 1_596_000, 980_000, 1_120_500, 640_000, 702_000, 415_000,
            520_000, 288_000, 305_000, 142_000, 198_000,
        ];
        // Mondays, as the renewal report counts weeks.
        let first = day(2025, 8, 11);
        (0..13)
            .map(|i| WeeklyPoint {
                week_start: first + chrono::Duration::weeks(i as i64),
                opened: opened[i],
                closed: closed[i],
                flagged_minor: flagged[i],
            })
            .collect()
    }

    fn weeks(n: usize, f: impl Fn(usize) -> (u32, u32, i64)) -> Vec<WeeklyPoint> {
        (0..n)
            .map(|i| {
                let (opened, closed, flagged_minor) = f(i);
                WeeklyPoint {
                    week_start: day(2024, 11, 3) + chrono::Duration::weeks(i as i64),
                    opened,
                    closed,
                    flagged_minor,
                }
            })
            .collect()
    }

    fn decode(png: &[u8]) -> image::RgbImage {
        image::load_from_memory_with_format(png, image::ImageFormat::Png)
            .expect("chart is a decodable PNG")
            .to_rgb8()
    }

    /// Width and height straight from the IHDR chunk, independent of the decoder.
    fn ihdr_size(png: &[u8]) -> (u32, u32) {
        assert!(png.len() > 33, "too short for a PNG header");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
        assert_eq!(&png[12..16], b"IHDR", "first chunk is IHDR");
        let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        (be(&png[16..20]), be(&png[20..24]))
    }

    fn ink_pixels(img: &image::RgbImage) -> usize {
        img.pixels().filter(|p| p.0 != [255, 255, 255]).count()
    }

    fn has_colour_near(img: &image::RgbImage, c: RGBColor) -> bool {
        img.pixels().any(|p| {
            p.0.iter()
                .zip([c.0, c.1, c.2])
                .all(|(a, b)| a.abs_diff(b) <= 2)
        })
    }

    fn assert_valid_chart(png: &[u8]) -> image::RgbImage {
        assert_eq!(ihdr_size(png), (WIDTH, HEIGHT));
        let img = decode(png);
        assert_eq!(img.dimensions(), (WIDTH, HEIGHT));
        img
    }

    #[test]
    fn typical_series_is_a_full_size_png_with_bars_line_and_text() {
        let png = weekly_chart("Acme — weekly", "USD", &thirteen_weeks()).expect("renders");
        let img = assert_valid_chart(&png);
        let ink = ink_pixels(&img);
        assert!(ink > 20_000, "only {ink} non-background pixels");
        let distinct: std::collections::HashSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
        assert!(distinct.len() >= 3, "{} colours", distinct.len());
        for (name, c) in [("opened", OPENED), ("closed", CLOSED), ("flagged", FLAGGED)] {
            assert!(has_colour_near(&img, c), "no {name} colour in the chart");
        }
    }

    /// Dark title ink in the top band: catches text silently not drawn (a font that
    /// failed to load, or glyphs that rasterise to nothing).
    #[test]
    fn title_text_is_drawn() {
        let dark_in_title_band = |title: &str| {
            let img = decode(&weekly_chart(title, "USD", &thirteen_weeks()).expect("renders"));
            (0..WIDTH)
                .flat_map(|x| (0..28).map(move |y| (x, y)))
                .filter(|&(x, y)| img.get_pixel(x, y).0.iter().all(|&c| c < 120))
                .count()
        };
        let with_title = dark_in_title_band("Acme Outfitters");
        assert!(with_title > 150, "{with_title} dark title pixels");
        assert_eq!(dark_in_title_band(""), 0);
    }

    #[test]
    fn text_layout_measures_spaces_and_missing_glyphs() {
        let font = font().expect("bundled font loads");
        let mut pixels = vec![0u8; 3 * 16];
        let backend = GlyphBackend {
            inner: BitMapBackend::<RGBPixel>::with_buffer_and_format(&mut pixels, (4, 4))
                .expect("buffer fits"),
            font,
        };
        let width = |text: &str| backend.layout(text, 14.0).width;
        assert!(width("Oct 12") > width("Oct12"), "a space has width");
        assert!(width("Oct 12") > width("Oct 1"));
        assert_eq!(width(""), 0.0);
        // A character DejaVu Sans lacks still advances (its .notdef box).
        assert!(width("\u{1F680}") > 0.0);
    }

    #[test]
    fn empty_input_is_a_valid_png_without_series() {
        let png = weekly_chart("Quiet client", "USD", &[]).expect("renders");
        let img = assert_valid_chart(&png);
        // The message and title are drawn, but no bar or line colour.
        assert!(ink_pixels(&img) > 500);
        for c in [OPENED, CLOSED, FLAGGED] {
            assert!(!has_colour_near(&img, c));
        }
    }

    #[test]
    fn empty_input_differs_from_an_all_zero_week() {
        let empty = decode(&weekly_chart("t", "USD", &[]).expect("renders"));
        let zero = decode(&weekly_chart("t", "USD", &weeks(1, |_| (0, 0, 0))).expect("renders"));
        assert_ne!(
            empty, zero,
            "an empty period must say so, not draw empty axes"
        );
    }

    #[test]
    fn edge_cases_render_without_panicking() {
        let cases: Vec<(&str, Vec<WeeklyPoint>)> = vec![
            ("all zero", weeks(13, |_| (0, 0, 0))),
            ("one week", weeks(1, |_| (5, 2, 12_345))),
            (
                "sixty weeks",
                weeks(60, |i| (i as u32 % 17, i as u32 % 11, i as i64 * 99_999)),
            ),
            ("huge money", weeks(13, |_| (1, 1, i64::MAX / 2))),
            (
                "huge counts",
                weeks(13, |i| (u32::MAX - i as u32, u32::MAX, 0)),
            ),
            (
                "extreme money",
                weeks(3, |i| (0, 0, [i64::MIN, 0, i64::MAX][i])),
            ),
            ("negative money", weeks(4, |i| (1, 0, -(i as i64) * 5_000))),
        ];
        for (name, points) in cases {
            let png = weekly_chart(name, "USD", &points).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_valid_chart(&png);
        }
    }

    #[test]
    fn odd_titles_and_currencies_render() {
        let long = "Very long client name ".repeat(40);
        let titles = [
            "",
            "   ",
            "Ünïcödé — 日本語 — 🚀🔥 — \u{10FFFF} — \u{202E}rtl",
            "line one\nline two\ttab\0nul",
            long.as_str(),
        ];
        // Each render costs a few hundred milliseconds unoptimised, so titles and
        // currencies are paired rather than crossed; they are independent inputs.
        let currencies = ["USD", "EUR", "JPY", "", "  k w d ", "💶"];
        for (i, currency) in currencies.iter().enumerate() {
            let title = titles[i % titles.len()];
            let png = weekly_chart(title, currency, &thirteen_weeks())
                .unwrap_or_else(|e| panic!("{title:?} {currency:?}: {e}"));
            assert_valid_chart(&png);
        }
    }

    #[test]
    fn unsorted_input_draws_the_same_as_sorted() {
        let sorted = thirteen_weeks();
        let mut shuffled = sorted.clone();
        shuffled.reverse();
        shuffled.swap(2, 7);
        let a = weekly_chart("t", "USD", &sorted).expect("renders");
        let b = weekly_chart("t", "USD", &shuffled).expect("renders");
        assert_eq!(decode(&a), decode(&b));
    }

    #[test]
    fn rendering_writes_no_files() {
        let listing = |dir: &std::path::Path| -> Vec<std::path::PathBuf> {
            let mut v: Vec<_> = std::fs::read_dir(dir)
                .expect("readable dir")
                .map(|e| e.expect("dir entry").path())
                .collect();
            v.sort();
            v
        };
        let cwd = std::env::current_dir().expect("cwd");
        let before = listing(&cwd);
        weekly_chart("t", "USD", &thirteen_weeks()).expect("renders");
        weekly_chart("t", "USD", &[]).expect("renders");
        assert_eq!(before, listing(&cwd));
    }

    #[test]
    fn money_labels_are_compact() {
        let usd = Money::new("usd");
        assert_eq!(usd.format(12_300.0), "$12.3k");
        assert_eq!(usd.format(12_000.0), "$12k");
        assert_eq!(usd.format(950.0), "$950");
        assert_eq!(usd.format(0.0), "$0");
        assert_eq!(usd.format(2.5), "$2.5");
        assert_eq!(usd.format(999_960.0), "$1M");
        assert_eq!(usd.format(-1_500.0), "-$1.5k");
        assert_eq!(usd.format(4.6e14), "$460T");
        assert_eq!(usd.format(4.6e17), "$4.6e17");
        assert_eq!(Money::new("EUR").format(12_345.0), "EUR 12.3k");
        assert_eq!(Money::new("").format(12_345.0), "12.3k");
        assert_eq!(compact_count(9_999), "9999");
        assert_eq!(compact_count(12_345), "12.3k");
    }

    #[test]
    fn minor_units_follow_the_currency() {
        assert_eq!(Money::new("USD").major(1_234_500), 12_345.0);
        assert_eq!(Money::new("JPY").major(12_345), 12_345.0);
        assert_eq!(Money::new("KWD").major(12_345_000), 12_345.0);
    }

    #[test]
    fn money_range_always_has_a_scale() {
        assert_eq!(money_range(&[]), (0.0, 100.0));
        assert_eq!(money_range(&[0.0, 0.0]), (0.0, 100.0));
        let (lo, hi) = money_range(&[10.0, 50.0]);
        assert_eq!(lo, 0.0);
        assert!(hi > 50.0);
        let (lo, hi) = money_range(&[-20.0, 10.0]);
        assert!(lo < -20.0 && hi > 10.0);
    }

    /// The example chart in docs/. `LOOKOUT_BLESS=1 cargo test --lib reports::chart`
    /// regenerates it; otherwise the committed file must be a chart of the right size.
    #[test]
    fn docs_example_chart() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/renewal-chart.png");
        if std::env::var("LOOKOUT_BLESS").as_deref() == Ok("1") {
            let png = weekly_chart(
                "Acme Outfitters — findings per week, last 90 days",
                "USD",
                &thirteen_weeks(),
            )
            .expect("renders");
            std::fs::write(&path, png).expect("writes docs/renewal-chart.png");
        }
        let png = std::fs::read(&path).expect("docs/renewal-chart.png is committed");
        assert_valid_chart(&png);
    }
}
