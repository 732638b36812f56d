//! The documents of SPEC 1 as Rust types.
//!
//! They mirror `schemas/schedule.schema.json` field for field (a test keeps
//! the two in step). Every struct denies unknown fields so a typo fails.

use serde::{Deserialize, Serialize};

/// The only `apiVersion` this build reads.
pub const API_VERSION: &str = "adsched/v1";

/// A product to make ads for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    /// Always `adsched/v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// Always `Product`.
    pub kind: String,
    /// Slug or UUID; passed to the generator.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The owning brand.
    pub brand: Brand,
    /// Ad copy lines, for `content_source: hooks`.
    #[serde(default)]
    pub hooks: Vec<String>,
    /// Brand colors, for `color_mode: brand`.
    #[serde(default)]
    pub colors: Option<Colors>,
}

/// A brand: id and display name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Brand {
    /// Brand slug or UUID.
    pub id: String,
    /// Display name.
    pub name: String,
}

/// Brand colors as `#RRGGBB`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Colors {
    /// Main color (backgrounds, bars).
    pub primary: Option<String>,
    /// Highlight color.
    pub accent: Option<String>,
    /// Text color.
    pub text: Option<String>,
}

/// A scheduled ad-generation job for one product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Always `adsched/v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// Always `Schedule`.
    pub kind: String,
    /// `[a-z0-9][a-z0-9-]{0,62}`; history follows the id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Id of a Product document.
    pub product: String,
    /// Optional tenant UUID, copied to every record.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Stop firing while true.
    #[serde(default)]
    pub paused: bool,
    /// When it fires.
    pub schedule: Timing,
    /// Which templates a run uses.
    pub templates: Templates,
    /// Generation parameters.
    #[serde(default)]
    pub parameters: Parameters,
    /// Where the ads go.
    #[serde(default)]
    pub export: Export,
    /// Who hears about failures (SPEC 8); None = the daemon's defaults.
    #[serde(default)]
    pub alerts: Option<Alerts>,
}

/// `alerts:` — who hears about a failed, missed or interrupted run or a
/// failed export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Alerts {
    /// Which events alert (default: all four).
    pub on: Option<Vec<AlertEvent>>,
    /// A channel for the bot's messages.
    pub slack: Option<AlertSlack>,
    /// Recipients of alert emails.
    pub email: Option<EmailExport>,
}

impl Alerts {
    /// Whether `event` alerts.
    pub fn wants(&self, event: AlertEvent) -> bool {
        self.on.as_ref().is_none_or(|on| on.contains(&event))
    }
}

/// What alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertEvent {
    /// A run ended `failed`.
    Failed,
    /// Times passed outside the catch-up window.
    Missed,
    /// An export failed, was refused, or its review window expired.
    ExportFailed,
    /// A run ended `interrupted`.
    Interrupted,
}

impl AlertEvent {
    /// The event as in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertEvent::Failed => "failed",
            AlertEvent::Missed => "missed",
            AlertEvent::ExportFailed => "export_failed",
            AlertEvent::Interrupted => "interrupted",
        }
    }
}

/// `slack: { channel: C… }` of `alerts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSlack {
    /// Channel ID for the bot.
    pub channel: String,
}

/// The `schedule:` block: one form plus policies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Timing {
    /// Every day.
    pub daily: Option<AtTime>,
    /// One weekday.
    pub weekly: Option<WeeklyAt>,
    /// One day of the month.
    pub monthly: Option<MonthlyAt>,
    /// A crontab(5) expression.
    pub cron: Option<String>,
    /// One local date-time.
    pub once: Option<AtTime>,
    /// IANA zone, default America/Los_Angeles.
    pub timezone: Option<String>,
    /// Calendar runs before the schedule completes; None = unlimited.
    pub max_runs: Option<u32>,
    /// How late a missed time may still be caught up (default 1h).
    pub catchup_window: Option<String>,
    /// Retries of a failed calendar run, 0..=5 (default 2).
    pub retries: Option<u8>,
    /// How long one generator call may take, 1s..24h (default 30m).
    pub timeout: Option<String>,
}

/// `{ at: ... }` — a time (daily) or a date-time (once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtTime {
    /// `HH:MM`, or `YYYY-MM-DDTHH:MM[:SS]` for once.
    pub at: String,
}

/// `{ day: monday, at: "09:00" }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeeklyAt {
    /// The weekday.
    pub day: DayName,
    /// `HH:MM`.
    pub at: String,
}

/// `{ day: 1..28, at: "09:00" }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonthlyAt {
    /// Day of the month, default 1.
    pub day: Option<u32>,
    /// `HH:MM`.
    pub at: String,
}

/// A weekday name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum DayName {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl DayName {
    /// As chrono's weekday.
    pub fn weekday(self) -> chrono::Weekday {
        use chrono::Weekday::*;
        match self {
            DayName::Monday => Mon,
            DayName::Tuesday => Tue,
            DayName::Wednesday => Wed,
            DayName::Thursday => Thu,
            DayName::Friday => Fri,
            DayName::Saturday => Sat,
            DayName::Sunday => Sun,
        }
    }
}

/// The `templates:` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Templates {
    /// Selection mode.
    pub mode: TemplateMode,
    /// `unused`: how many per run.
    pub count: Option<u32>,
    /// `specific`: names in the pool.
    pub ids: Option<Vec<String>>,
    /// `uploaded`: paths relative to the schedule file.
    pub files: Option<Vec<String>>,
}

/// How a run picks its templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateMode {
    /// Pool templates never used for this product.
    Unused,
    /// The listed pool templates.
    Specific,
    /// The listed files beside the schedule.
    Uploaded,
}

/// The `parameters:` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parameters {
    /// Images per template, 1..=15 (default 5).
    #[serde(default = "default_variations")]
    pub num_variations: u8,
    /// Where the ad copy comes from.
    #[serde(default)]
    pub content_source: ContentSource,
    /// Template colors or brand colors.
    #[serde(default)]
    pub color_mode: ColorMode,
    /// Auto or manual image selection.
    #[serde(default)]
    pub image_selection_mode: ImageSelectionMode,
}

fn default_variations() -> u8 {
    5
}

impl Default for Parameters {
    fn default() -> Self {
        Parameters {
            num_variations: default_variations(),
            content_source: ContentSource::default(),
            color_mode: ColorMode::default(),
            image_selection_mode: ImageSelectionMode::default(),
        }
    }
}

/// Where the ad copy comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ContentSource {
    /// The product's hooks.
    #[default]
    Hooks,
    /// The template's own look and copy.
    RecreateTemplate,
}

/// Which colors an ad uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ColorMode {
    /// The template's colors.
    #[default]
    Original,
    /// The product's brand colors.
    Brand,
}

/// Image selection as in the ad creator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ImageSelectionMode {
    /// The generator picks.
    #[default]
    Auto,
    /// A person picks.
    Manual,
}

/// The `export:` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Export {
    /// Where the ads go.
    pub destination: Destination,
    /// Email settings.
    pub email: Option<EmailExport>,
    /// Slack settings.
    pub slack: Option<SlackExport>,
    /// Whether a person approves the ads before they go (SPEC 11).
    #[serde(default)]
    pub review: Option<ReviewMode>,
    /// How long the ads wait for review before the export expires (default 72h).
    #[serde(default)]
    pub review_window: Option<String>,
}

impl Export {
    /// Whether the ads wait for a person's review before they go.
    pub fn needs_review(&self) -> bool {
        self.review == Some(ReviewMode::Required) && self.destination != Destination::None
    }
}

/// `export.review`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewMode {
    /// The ads go when the run ends.
    None,
    /// The ads wait for a person to approve them.
    Required,
}

/// Export destinations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Destination {
    /// Keep the ads only.
    #[default]
    None,
    /// Email them.
    Email,
    /// Post them to Slack.
    Slack,
    /// Both.
    EmailAndSlack,
}

impl Destination {
    /// Whether email is part of this destination.
    pub fn has_email(self) -> bool {
        matches!(self, Destination::Email | Destination::EmailAndSlack)
    }
    /// Whether Slack is part of this destination.
    pub fn has_slack(self) -> bool {
        matches!(self, Destination::Slack | Destination::EmailAndSlack)
    }
}

/// `email: { to: [...] }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailExport {
    /// Recipients.
    pub to: Vec<String>,
}

/// `slack: { channel: C… }` or `slack: { webhook_env: NAME }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackExport {
    /// Channel ID for the bot.
    pub channel: Option<String>,
    /// Environment variable holding an incoming-webhook URL.
    pub webhook_env: Option<String>,
}
