//! `adsched mcp` as an agent sees it: the real binary as a child process,
//! spoken to in MCP (newline-delimited JSON-RPC) over its stdin and stdout,
//! against a real daemon, a real SMTP server (aiosmtpd) and a local server
//! that speaks Slack's Web API. The SMTP and Slack settings are given to the
//! child only.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::slack::FakeSlack;
use common::{free_port, schedule, wait_for, Bin, Project};
use mailparse::MailHeaderMap;
use serde_json::{json, Value};

const TOKEN: &str = "xoxb-mcp-test-token";

// ------------------------------------------------------------ SMTP server

// ------------------------------------------------------------ MCP client

/// A minimal MCP client over the child's stdin and stdout.
struct Mcp {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    next_id: u64,
    /// Each tool's output schema, from [`Mcp::tools`]: every result is checked against it.
    outputs: HashMap<String, jsonschema::Validator>,
}

impl Mcp {
    fn start(p: &Project, server: &str, env: &[(&str, String)]) -> Mcp {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_adsched"));
        cmd.current_dir(p.dir.path())
            .arg("mcp")
            .arg("--server")
            .arg(server)
            .arg("--state")
            .arg(p.path("state"))
            .arg("--templates")
            .arg(p.path("templates"))
            .arg("--schedules")
            .arg(p.path("schedules"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(p.path("mcp.log")).unwrap());
        for var in [
            "ADSCHED_SMTP_URL",
            "ADSCHED_EMAIL_FROM",
            "ADSCHED_EMAIL_ALLOW",
            "ADSCHED_SLACK_TOKEN",
            "ADSCHED_SLACK_API_URL",
            "ADSCHED_SLACK_ALLOW",
            "ADSCHED_API_TOKEN",
            "ADSCHED_SERVER",
            "ADSCHED_STATE",
            "ADSCHED_TEMPLATES",
            "ADSCHED_SCHEDULES",
        ] {
            cmd.env_remove(var);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Mcp {
            child,
            stdin,
            lines: rx,
            next_id: 0,
            outputs: HashMap::new(),
        }
    }

    fn send(&mut self, msg: &Value) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{msg}").unwrap();
        stdin.flush().unwrap();
    }

    /// Sends a request and returns its response; every line on stdout must be JSON-RPC.
    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("no answer to {method} within 60 s"));
            let msg: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("stdout carries only MCP frames, got {line:?}: {e}"));
            assert_eq!(msg["jsonrpc"], "2.0", "{msg}");
            if msg["id"] == id && msg.get("method").is_none() {
                return msg;
            }
        }
    }

    /// tools/call: (is_error, structured content or the error text).
    fn call(&mut self, name: &str, args: Value) -> (bool, Value) {
        let resp = self.request("tools/call", json!({"name": name, "arguments": args}));
        let result = &resp["result"];
        assert!(result.is_object(), "{name}: not a tool result: {resp}");
        let text = result["content"][0]["text"].as_str().unwrap_or_default();
        if result["isError"] == true {
            assert!(!text.is_empty(), "{name}: an error says why: {resp}");
            return (true, Value::String(text.to_string()));
        }
        let structured = result["structuredContent"].clone();
        assert!(structured.is_object(), "{name}: structured result: {resp}");
        let output = self
            .outputs
            .get(name)
            .unwrap_or_else(|| panic!("{name}: no output schema; call tools() first"));
        let wrong: Vec<String> = output
            .iter_errors(&structured)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            wrong.is_empty(),
            "{name}: the result does not match the tool's output schema: {wrong:?}\n{structured}"
        );
        let from_text: Value = serde_json::from_str(text).expect("the text block is the JSON");
        assert_eq!(from_text, structured, "{name}");
        (false, structured)
    }

    fn ok(&mut self, name: &str, args: Value) -> Value {
        let (is_error, v) = self.call(name, args.clone());
        assert!(!is_error, "{name}({args}) failed: {v}");
        v
    }

    /// validate_schedule, whose findings must lie inside the draft.
    fn validate(&mut self, args: Value) -> Value {
        let v = self.ok("validate_schedule", args.clone());
        assert_findings_inside(args["yaml"].as_str().unwrap(), &v);
        v
    }

    /// tools/list, each tool's schemas checked as clients check them; keeps
    /// the output schemas to check every result against.
    fn tools(&mut self) -> Vec<Value> {
        let list = self.request("tools/list", json!({}));
        let tools = list["result"]["tools"].as_array().expect("tools").clone();
        for t in &tools {
            let name = t["name"].as_str().unwrap();
            let input = &t["inputSchema"];
            let output = &t["outputSchema"];
            assert_eq!(input["type"], "object", "{name}");
            assert_eq!(output["type"], "object", "{name}");
            let mut problems = schema_problems(input, true, "");
            problems.extend(schema_problems(output, false, ""));
            assert!(problems.is_empty(), "{name}: {problems:#?}\n{t}");
            compile(name, "inputSchema", input);
            self.outputs
                .insert(name.to_string(), compile(name, "outputSchema", output));
        }
        tools
    }

    fn err(&mut self, name: &str, args: Value) -> String {
        let (is_error, v) = self.call(name, args.clone());
        assert!(is_error, "{name}({args}) should fail, got {v}");
        v.as_str().unwrap().to_string()
    }

    fn handshake(&mut self) -> Value {
        let init = self.request(
            "initialize",
            json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "adsched-test", "version": "0"},
            }),
        );
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        init
    }

    /// Closes stdin and waits for the exit code.
    fn close(mut self) -> Option<i32> {
        drop(self.stdin.take());
        let code = wait_for(15, "adsched mcp to exit", || {
            self.child.try_wait().unwrap().map(|s| s.code())
        });
        while self.lines.try_recv().is_ok() {}
        code
    }
}

impl Drop for Mcp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ------------------------------------------------------------- schemas

/// The formats JSON Schema 2020-12 defines; Ajv-based clients warn on any other.
const STANDARD_FORMATS: [&str; 19] = [
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "idn-email",
    "hostname",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "iri",
    "iri-reference",
    "uuid",
    "uri-template",
    "json-pointer",
    "relative-json-pointer",
    "regex",
];

/// Checks `schema` against its meta-schema and compiles it, an unknown
/// `format` being an error (as Ajv's strict mode has it).
fn compile(tool: &str, which: &str, schema: &Value) -> jsonschema::Validator {
    if let Err(e) = jsonschema::meta::validate(schema) {
        panic!("{tool}: its {which} is not valid JSON Schema: {e}\n{schema}");
    }
    jsonschema::options()
        .should_validate_formats(true)
        .should_ignore_unknown_formats(false)
        .build(schema)
        .unwrap_or_else(|e| panic!("{tool}: its {which} does not compile: {e}\n{schema}"))
}

/// What clients trip on anywhere in `schema`: a `format` JSON Schema does
/// not define and, in an input schema (`no_null`), a parameter that may be
/// `null` (a form cannot fill `["integer", "null"]`).
fn schema_problems(schema: &Value, no_null: bool, at: &str) -> Vec<String> {
    let mut out = Vec::new();
    match schema {
        Value::Object(o) => {
            if let Some(Value::String(f)) = o.get("format") {
                if !STANDARD_FORMATS.contains(&f.as_str()) {
                    out.push(format!("{at}: format `{f}` is not a JSON Schema format"));
                }
            }
            if no_null {
                let nullable = match o.get("type") {
                    Some(Value::String(t)) => t == "null",
                    Some(Value::Array(ts)) => ts.iter().any(|t| t == "null"),
                    _ => false,
                };
                let null_value = ["enum", "const", "default"]
                    .iter()
                    .any(|k| match o.get(*k) {
                        Some(Value::Array(vs)) if *k == "enum" => vs.iter().any(Value::is_null),
                        Some(v) => v.is_null(),
                        None => false,
                    });
                if nullable || null_value {
                    out.push(format!("{at}: an input that may be null"));
                }
            }
            for (k, v) in o {
                out.extend(schema_problems(v, no_null, &format!("{at}/{k}")));
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                out.extend(schema_problems(v, no_null, &format!("{at}/{i}")));
            }
        }
        _ => {}
    }
    out
}

/// Every finding of a validate_schedule result lies inside `yaml`: on one of
/// its lines, at most one column past that line's end.
fn assert_findings_inside(yaml: &str, v: &Value) {
    let lines: Vec<&str> = yaml.lines().collect();
    let findings = v["errors"].as_array().unwrap().iter();
    for f in findings.chain(v["warnings"].as_array().unwrap()) {
        let (line, column) = (
            f["line"].as_u64().unwrap() as usize,
            f["column"].as_u64().unwrap() as usize,
        );
        assert!(
            (1..=lines.len().max(1)).contains(&line),
            "line {line} is outside the {} lines of the draft: {f}",
            lines.len()
        );
        let width = lines.get(line - 1).map_or(0, |l| l.chars().count());
        assert!(
            (1..=width + 1).contains(&column),
            "column {column} is outside line {line} ({width} characters): {f}"
        );
    }
}

// ------------------------------------------------------------------ test

const TOOLS: [&str; 15] = [
    "cancel_run",
    "export_run",
    "get_run",
    "get_schedule",
    "list_audit",
    "list_runs",
    "list_schedules",
    "next_fire_times",
    "pause_schedule",
    "resume_schedule",
    "review_run",
    "send_email",
    "send_slack",
    "trigger_run",
    "validate_schedule",
];

#[test]
fn mcp_over_stdio_serves_every_tool_against_a_daemon_smtp_and_slack() {
    let p = Project::new();
    p.write(
        "schedules/s.yaml",
        &schedule("mail", "  daily: { at: \"09:00\" }", 2),
    );
    p.write(
        "schedules/quiet.yaml",
        &(schedule("quiet", "  weekly: { day: friday, at: \"10:00\" }", 1) + "paused: true\n"),
    );
    let gen = format!("cmd:{}", p.path("gen-ok.sh").display());
    let bin = Bin::start(&p, &gen, &[]);
    let server = format!("http://127.0.0.1:{}", bin.port);

    let smtp_port = free_port();
    let inbox = p.path("inbox");
    let _smtp = common::smtp_server(smtp_port, &inbox, 0);
    let fake = FakeSlack::start(TOKEN);

    let mut mcp = Mcp::start(
        &p,
        &server,
        &[
            ("ADSCHED_SMTP_URL", format!("smtp://127.0.0.1:{smtp_port}")),
            ("ADSCHED_EMAIL_FROM", "adsched@acme.example".into()),
            ("ADSCHED_EMAIL_ALLOW", "acme.example".into()),
            ("ADSCHED_SLACK_TOKEN", TOKEN.into()),
            ("ADSCHED_SLACK_API_URL", fake.api_url()),
            ("ADSCHED_SLACK_ALLOW", "C0123ABCD9".into()),
        ],
    );

    // initialize, then tools/list: every tool described, typed in and out.
    let init = mcp.handshake();
    let info = &init["result"];
    assert_eq!(info["serverInfo"]["name"], "adsched", "{init}");
    assert!(info["capabilities"]["tools"].is_object(), "{init}");
    assert_eq!(info["protocolVersion"], "2025-06-18");
    assert!(info["instructions"]
        .as_str()
        .unwrap()
        .contains("validate_schedule"));
    let tools = mcp.tools();
    let names: BTreeSet<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, TOOLS.into_iter().collect(), "{tools:?}");
    for t in &tools {
        let name = &t["name"];
        assert!(
            t["description"].as_str().unwrap().len() > 80,
            "{name}: a description for an LLM"
        );
    }
    let schema_of = |n: &str| tools.iter().find(|t| t["name"] == n).unwrap()["inputSchema"].clone();
    let required: BTreeSet<String> =
        serde_json::from_value(schema_of("send_email")["required"].clone()).unwrap();
    assert_eq!(
        required,
        ["html", "subject", "to"]
            .map(String::from)
            .into_iter()
            .collect()
    );
    assert!(schema_of("list_schedules")
        .to_string()
        .contains("\"paused\""));

    // list_schedules, with filters; a bad value is a tool error.
    let all = mcp.ok("list_schedules", json!({}));
    assert_eq!(all["count"], 2, "{all}");
    let ids: BTreeSet<&str> = all["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["mail", "quiet"].into_iter().collect());
    assert!(all["schedules"][0].get("spec").is_none(), "compact: {all}");
    let paused = mcp.ok("list_schedules", json!({"status": "paused"}));
    assert_eq!(paused["count"], 1);
    assert_eq!(paused["schedules"][0]["id"], "quiet");
    let acme = mcp.ok(
        "list_schedules",
        json!({"brand": "Acme", "product": "collagen"}),
    );
    assert_eq!(acme["count"], 2);
    let other = mcp.ok("list_schedules", json!({"brand": "globex"}));
    assert_eq!(other["count"], 0);
    let e = mcp.err("list_schedules", json!({"status": "sleeping"}));
    assert!(e.contains("sleeping"), "{e}");

    // get_schedule.
    let one = mcp.ok("get_schedule", json!({"schedule_id": "mail"}));
    assert_eq!(one["schedule"]["id"], "mail");
    assert_eq!(one["schedule"]["spec"]["schedule"]["daily"]["at"], "09:00");
    assert_eq!(one["recent_runs"], json!([]));
    let e = mcp.err("get_schedule", json!({"schedule_id": "nope"}));
    assert!(e.contains("no schedule with id `nope`"), "{e}");
    let e = mcp.err("get_schedule", json!({}));
    assert!(e.contains("schedule_id"), "{e}");

    // next_fire_times: a known schedule across the spring-forward night, and a draft.
    let next = mcp.ok(
        "next_fire_times",
        json!({"schedule_id": "mail", "count": 3, "after": "2026-03-07T12:00:00Z"}),
    );
    assert_eq!(next["timezone"], "America/Los_Angeles");
    assert_eq!(
        next["times"],
        json!([
            "2026-03-07T09:00:00-08:00",
            "2026-03-08T09:00:00-07:00",
            "2026-03-09T09:00:00-07:00"
        ]),
        "{next}"
    );
    assert_eq!(next["status"], "active");
    let as_text = mcp.ok(
        "next_fire_times",
        json!({"schedule_id": "mail", "count": "3", "after": "2026-03-07T12:00:00Z"}),
    );
    assert_eq!(as_text["times"], next["times"], "{as_text}");
    let quiet = mcp.ok(
        "next_fire_times",
        json!({"schedule_id": "quiet", "count": 1}),
    );
    assert!(
        quiet["note"].as_str().unwrap().contains("paused"),
        "{quiet}"
    );
    let draft = schedule(
        "drafted",
        "  cron: \"0 9 * * 1\"\n  timezone: Europe/Paris",
        3,
    );
    let next = mcp.ok(
        "next_fire_times",
        json!({"yaml": draft, "count": 2, "after": "2026-03-01T00:00:00Z"}),
    );
    assert_eq!(next["id"], "drafted");
    assert_eq!(
        next["times"],
        json!(["2026-03-02T09:00:00+01:00", "2026-03-09T09:00:00+01:00"])
    );
    let e = mcp.err("next_fire_times", json!({"count": 2}));
    assert!(e.contains("schedule_id"), "{e}");
    let e = mcp.err(
        "next_fire_times",
        json!({"schedule_id": "mail", "after": "last tuesday"}),
    );
    assert!(e.contains("RFC 3339"), "{e}");
    let e = mcp.err(
        "next_fire_times",
        json!({"schedule_id": "mail", "count": 0}),
    );
    assert!(e.contains("count"), "{e}");
    let e = mcp.err(
        "next_fire_times",
        json!({"yaml": draft.replace("0 9 * * 1", "0 25 * * 1")}),
    );
    assert!(e.contains("hour field `25`"), "{e}");
    let e = mcp.err("next_fire_times", json!({"yaml": "kind: [nope\n"}));
    assert!(e.contains("no valid schedule"), "{e}");

    // trigger_run, then the run through list_runs and get_run.
    let t = mcp.ok("trigger_run", json!({"schedule_id": "mail"}));
    let run_id = t["run_id"].as_str().unwrap().to_string();
    assert_eq!(t["already_pending"], false);
    let run = wait_for(30, "the triggered run to complete", || {
        let r = mcp.ok("get_run", json!({"run_id": run_id}));
        (r["run"]["status"] == "completed").then_some(r)
    });
    assert_eq!(run["run"]["trigger"], "manual");
    let ads = run["run"]["ads"].as_array().unwrap().clone();
    assert_eq!(ads.len(), 2, "{run}");
    assert!(!run["logs"].as_array().unwrap().is_empty(), "{run}");
    let ad_image = ads[0]["image"].as_str().unwrap().to_string();
    assert!(ad_image.starts_with("/ads/"), "{ad_image}");
    let template = run["run"]["templates_used"][0]
        .as_str()
        .unwrap()
        .to_string();

    // The operators' tools: pause with a reason, resume, the audit log;
    // a cancel of an ended run is refused; an export again is recorded.
    let paused = mcp.ok(
        "pause_schedule",
        json!({"schedule_id": "mail", "reason": "agent: Slack is flooded"}),
    );
    assert_eq!(paused["schedule"]["status"], "paused", "{paused}");
    assert_eq!(paused["schedule"]["override"]["by"], "local", "{paused}");
    let resumed = mcp.ok("resume_schedule", json!({"schedule_id": "mail"}));
    assert_eq!(resumed["schedule"]["status"], "active", "{resumed}");
    let e = mcp.err("cancel_run", json!({"run_id": run_id}));
    assert!(e.contains("completed already"), "{e}");
    let exported = mcp.ok(
        "export_run",
        json!({"run_id": run_id, "slack_channel": "C0123ABCD9"}),
    );
    assert!(
        exported["message"].as_str().unwrap().contains("exporting"),
        "{exported}"
    );
    let run_after = wait_for(30, "the export again to be recorded", || {
        let r = mcp.ok("get_run", json!({"run_id": run_id}));
        let exports = r["run"]["exports"].as_array()?.clone();
        exports
            .iter()
            .any(|e| e["destination"] == "slack")
            .then_some(r)
    });
    // The daemon has no Slack token: the entry says so, and names no secret.
    assert!(
        run_after.to_string().contains("ADSCHED_SLACK_TOKEN"),
        "{run_after}"
    );
    let audit = mcp.ok("list_audit", json!({"schedule_id": "mail"}));
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["export", "resume", "pause", "trigger"], "{audit}");
    assert_eq!(audit["entries"][2]["reason"], "agent: Slack is flooded");

    let runs = mcp.ok("list_runs", json!({"schedule_id": "mail"}));
    assert_eq!(runs["count"], 1, "{runs}");
    assert_eq!(runs["runs"][0]["id"], run_id.as_str());
    assert_eq!(runs["runs"][0]["ad_count"], 2);
    assert!(runs["runs"][0].get("ads").is_none());
    let failed = mcp.ok("list_runs", json!({"status": "failed", "limit": 5}));
    assert_eq!(failed["count"], 0);
    let since = mcp.ok("list_runs", json!({"since": "2000-01-01"}));
    assert_eq!(since["count"], 1);
    // limit: the JSON API's range, as a number or a numeric string.
    for limit in [json!(1000), json!("1000"), json!("1")] {
        let runs = mcp.ok("list_runs", json!({"limit": limit}));
        assert_eq!(runs["count"], 1, "{limit}: {runs}");
    }
    for limit in [json!(0), json!(1001), json!(-1), json!("5000")] {
        let e = mcp.err("list_runs", json!({"limit": limit}));
        assert!(e.contains("limit must be 1 to 1000"), "{limit}: {e}");
    }
    let e = mcp.err("get_run", json!({"run_id": "01NOPE"}));
    assert!(e.contains("no run"), "{e}");
    let e = mcp.err("trigger_run", json!({"schedule_id": "nope"}));
    assert!(e.contains("no schedule"), "{e}");

    // send_email: an ad and a template, through the real SMTP server.
    let sent = mcp.ok(
        "send_email",
        json!({
            "to": ["ops@acme.example"],
            "subject": "Fresh ads",
            "html": "<h2>Fresh ads</h2><p>Here <b>they</b> are &amp; more</p>",
            "attachments": [ad_image, template],
        }),
    );
    assert_eq!(sent["attachments"].as_array().unwrap().len(), 2, "{sent}");
    let raw = std::fs::read(inbox.join("1.eml")).unwrap();
    let rcpt = std::fs::read_to_string(inbox.join("1.rcpt")).unwrap();
    assert_eq!(rcpt.trim(), "ops@acme.example");
    let mail = mailparse::parse_mail(&raw).unwrap();
    assert_eq!(
        mail.headers.get_first_value("Subject").unwrap(),
        "Fresh ads"
    );
    assert_eq!(
        mail.headers.get_first_value("From").unwrap(),
        "adsched@acme.example"
    );
    let mut all_parts = Vec::new();
    common::mime_parts(&mail, &mut all_parts);
    let text = all_parts
        .iter()
        .find(|p| p.ctype.mimetype == "text/plain")
        .expect("a text alternative")
        .get_body()
        .unwrap();
    assert!(text.contains("Here they are & more"), "{text}");
    let html = all_parts
        .iter()
        .find(|p| p.ctype.mimetype == "text/html")
        .expect("the HTML body")
        .get_body()
        .unwrap();
    assert!(html.contains("<b>they</b>"), "{html}");
    let attached: Vec<String> = all_parts
        .iter()
        .filter_map(|p| p.get_content_disposition().params.get("filename").cloned())
        .collect();
    assert!(attached.contains(&template), "{attached:?}");
    assert_eq!(attached.len(), 2, "{attached:?}");

    // Refusals: allow-list, paths outside the folders, header injection.
    let e = mcp.err(
        "send_email",
        json!({"to": ["someone@evil.example"], "subject": "x", "html": "x"}),
    );
    assert!(e.contains("ADSCHED_EMAIL_ALLOW"), "{e}");
    let outside = p.path("schedules/s.yaml").display().to_string();
    for path in [outside.as_str(), "../schedules/s.yaml", "/etc/passwd"] {
        let e = mcp.err(
            "send_email",
            json!({"to": ["ops@acme.example"], "subject": "x", "html": "x", "attachments": [path]}),
        );
        assert!(e.contains("outside the folders"), "{path}: {e}");
    }
    let e = mcp.err(
        "send_email",
        json!({"to": ["ops@acme.example"], "subject": "x", "html": "x", "attachments": ["/ads/nope.png"]}),
    );
    assert!(e.contains("does not exist"), "{e}");
    let e = mcp.err(
        "send_email",
        json!({"to": ["ops@acme.example"], "subject": "hi\r\nBcc: victim@evil.example", "html": "x"}),
    );
    assert!(e.contains("line break"), "{e}");
    let e = mcp.err("send_email", json!({"to": "ops@acme.example"}));
    assert!(
        e.contains("invalid type") || e.contains("missing field"),
        "{e}"
    );
    assert!(!inbox.join("2.eml").exists(), "nothing else was sent");

    // send_slack: an ad uploaded with the message; then text only.
    let posted = mcp.ok(
        "send_slack",
        json!({"channel": "C0123ABCD9", "text": "New ads <!channel> & more", "images": [ad_image]}),
    );
    assert_eq!(posted["files"].as_array().unwrap().len(), 1, "{posted}");
    {
        let f = fake.lock();
        assert_eq!(f.files.len(), 1);
        for (id, (_, declared, got)) in &f.files {
            assert_eq!(Some(*declared), *got, "file {id} uploaded whole");
        }
        assert_eq!(f.completes.len(), 1);
        let c = &f.completes[0];
        assert_eq!(c["channel_id"], "C0123ABCD9");
        let blocks = c["blocks"].to_string();
        assert!(blocks.contains("&lt;!channel&gt; &amp; more"), "{blocks}");
        assert_eq!(f.bad_auth, 0);
    }
    mcp.ok(
        "send_slack",
        json!({"channel": "C0123ABCD9", "text": "Just words"}),
    );
    assert_eq!(fake.lock().posts.len(), 1);
    let e = mcp.err("send_slack", json!({"channel": "C0000000000", "text": "x"}));
    assert!(e.contains("ADSCHED_SLACK_ALLOW"), "{e}");
    let e = mcp.err(
        "send_slack",
        json!({"channel": "C0123ABCD9", "text": "x", "images": ["/etc/hostname"]}),
    );
    assert!(e.contains("outside") || e.contains("does not exist"), "{e}");
    {
        let f = fake.lock();
        assert_eq!((f.files.len(), f.completes.len(), f.posts.len()), (1, 1, 1));
    }

    // validate_schedule: valid, then mistakes at their line and column.
    let ok = schedule("drafted", "  daily: { at: \"08:30\" }", 3);
    let v = mcp.validate(json!({"yaml": ok}));
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["documents"], 1);
    assert_eq!(v["schedules"][0]["id"], "drafted");
    assert!(v["schedules"][0]["next_fire_time"].is_string(), "{v}");
    let v = mcp.validate(json!({"yaml": schedule("drafted", "  daily: { at: \"08:30\" }", 500)}));
    assert_eq!(v["valid"], false);
    let first = &v["errors"][0];
    assert_eq!(
        (&first["code"], &first["line"], &first["column"]),
        (&json!("schema"), &json!(10), &json!(10)),
        "{v}"
    );
    assert!(first["message"].as_str().unwrap().contains("500"), "{v}");
    let v = mcp.validate(json!({"yaml": ok.replace("product: collagen", "product: kombucha")}));
    let first = &v["errors"][0];
    assert_eq!(
        (&first["code"], &first["line"], &first["column"]),
        (&json!("unknown-product"), &json!(5), &json!(10)),
        "{v}"
    );
    assert!(
        first["message"].as_str().unwrap().contains("collagen"),
        "{v}"
    );
    // An id already in the folder is a duplicate, unless the draft replaces its file.
    let edit = schedule("mail", "  daily: { at: \"07:00\" }", 2);
    let v = mcp.validate(json!({"yaml": edit}));
    assert_eq!(v["errors"][0]["code"], "duplicate-id", "{v}");
    assert_eq!(v["errors"][0]["line"], 3);
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("s.yaml"),
        "{v}"
    );
    for path in ["s.yaml", "schedules/s.yaml"] {
        let v = mcp.validate(json!({"yaml": edit, "path": path}));
        assert_eq!(v["valid"], true, "{path}: {v}");
        assert_eq!(v["file"], "s.yaml");
    }
    let v = mcp.validate(json!({"yaml": "apiVersion: adsched/v1\nkind: Schedule\nid: [oops\n"}));
    assert_eq!(v["errors"][0]["code"], "yaml-syntax", "{v}");
    assert!(v["summary"].as_str().unwrap().contains("line"), "{v}");
    let e = mcp.err(
        "validate_schedule",
        json!({"yaml": ok, "path": "../escape.yaml"}),
    );
    assert!(e.contains("relative path"), "{e}");

    // An unknown tool is a protocol error; the server carries on.
    let resp = mcp.request("tools/call", json!({"name": "rm_rf", "arguments": {}}));
    assert!(resp["error"].is_object(), "{resp}");
    let again = mcp.request("tools/list", json!({}));
    assert_eq!(
        again["result"]["tools"].as_array().unwrap().len(),
        TOOLS.len()
    );

    // Without the daemon, the reading tools open the store.
    assert!(bin.term().is_some());
    let all = mcp.ok("list_schedules", json!({}));
    assert_eq!(all["count"], 2, "{all}");
    let runs = mcp.ok("list_runs", json!({}));
    assert_eq!(runs["count"], 1);
    let t = mcp.ok("trigger_run", json!({"schedule_id": "mail"}));
    assert_eq!(t["already_pending"], false);

    // Closing stdin ends the server cleanly; its logs went to stderr.
    assert_eq!(mcp.close(), Some(0));
    let log = std::fs::read_to_string(p.path("mcp.log")).unwrap();
    assert!(log.contains("serving MCP on stdio"), "{log}");
    assert!(!log.contains(TOKEN), "the token never shows in logs");
}

/// A server with no daemon behind it: for the tools that need none.
fn without_daemon(p: &Project) -> Mcp {
    let mut mcp = Mcp::start(p, &format!("http://127.0.0.1:{}", free_port()), &[]);
    mcp.handshake();
    mcp.tools();
    mcp
}

/// The optional numbers as the MCP Inspector can fill them: a plain
/// `integer` left out of `required` (no `null`, no `uint32` format), and
/// accepted as a numeric string, which is what form-based clients send.
#[test]
fn optional_numbers_are_plain_integers_and_may_come_as_strings() {
    let p = Project::new();
    let mut mcp = without_daemon(&p);
    let tools = mcp.tools();
    for (tool, name, max, default) in [
        ("next_fire_times", "count", 100, 5),
        ("list_runs", "limit", 1000, 20),
    ] {
        let schema = &tools.iter().find(|t| t["name"] == tool).unwrap()["inputSchema"];
        let property = &schema["properties"][name];
        assert_eq!(
            (
                &property["type"],
                &property["minimum"],
                &property["maximum"],
                &property["default"]
            ),
            (&json!("integer"), &json!(1), &json!(max), &json!(default)),
            "{tool}.{name}: {property}"
        );
        assert!(
            property.get("format").is_none(),
            "{tool}.{name}: {property}"
        );
        let required = schema["required"].as_array().cloned().unwrap_or_default();
        assert!(!required.contains(&json!(name)), "{tool}: {schema}");
    }

    let draft = schedule("drafted", "  daily: { at: \"09:00\" }", 3);
    let after = "2026-03-01T00:00:00Z";
    for count in [
        json!(5),
        json!("5"),
        json!(" 5 "),
        json!(5.0),
        json!(""),
        json!(null),
    ] {
        let next = mcp.ok(
            "next_fire_times",
            json!({"yaml": draft, "count": count, "after": after}),
        );
        assert_eq!(
            next["times"].as_array().unwrap().len(),
            5,
            "{count}: {next}"
        );
    }
    let next = mcp.ok(
        "next_fire_times",
        json!({"yaml": draft, "count": "2", "after": after}),
    );
    assert_eq!(
        next["times"],
        json!(["2026-03-01T09:00:00-08:00", "2026-03-02T09:00:00-08:00"])
    );
    for (count, says) in [
        (json!("five"), "a whole number"),
        (json!(2.5), "a whole number"),
        (json!("101"), "count must be 1 to 100"),
        (json!(-1), "count must be 1 to 100"),
    ] {
        let e = mcp.err("next_fire_times", json!({"yaml": draft, "count": count}));
        assert!(e.contains(says), "{count}: {e}");
    }
    assert_eq!(mcp.close(), Some(0));
}

/// A syntax error at the end of the text (an unclosed bracket or quote) is
/// placed on the draft's last line, not on the line after it.
#[test]
fn validate_schedule_places_findings_inside_the_draft() {
    let p = Project::new();
    let mut mcp = without_daemon(&p);
    let unclosed = "apiVersion: adsched/v1
kind: Schedule
id: unclosed
name: unclosed
product: collagen
schedule:
  daily: { at: \"09:00\" }
templates:
  mode: unused
  count: [3
";
    assert_eq!(unclosed.lines().count(), 10);
    let v = mcp.validate(json!({"yaml": unclosed}));
    let first = &v["errors"][0];
    assert_eq!(
        (&first["code"], &first["line"]),
        (&json!("yaml-syntax"), &json!(10)),
        "{v}"
    );
    assert!(v["summary"].as_str().unwrap().contains("line 10,"), "{v}");
    for yaml in [
        unclosed.trim_end().to_string(),
        unclosed.replace("[3", "{ n: 3"),
        unclosed.replace("[3", "\"3"),
        unclosed.replace("[3", "'3"),
        unclosed.replace('\n', "\r\n"),
        format!("{unclosed}\n\n"),
    ] {
        let v = mcp.validate(json!({"yaml": yaml}));
        assert_eq!(v["errors"][0]["code"], "yaml-syntax", "{yaml:?}: {v}");
    }
    assert_eq!(mcp.close(), Some(0));
}

/// pydantic-ai (with its TestModel, no LLM) as the users' agent. It fails,
/// naming the set-up command, where pydantic-ai is not installed.
#[test]
fn a_pydantic_ai_agent_uses_the_tools() {
    let python = common::python();
    let installed = Command::new(&python)
        .args(["-c", "import pydantic_ai.mcp, fastmcp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        common::missing(&format!(
            "pydantic-ai (Python modules pydantic_ai.mcp and fastmcp, for {})",
            python.display()
        ));
    }
    let p = Project::new();
    p.write(
        "schedules/s.yaml",
        &schedule("mail", "  daily: { at: \"09:00\" }", 2),
    );
    p.write(
        "schedules/quiet.yaml",
        &(schedule("quiet", "  weekly: { day: friday, at: \"10:00\" }", 1) + "paused: true\n"),
    );
    let gen = format!("cmd:{}", p.path("gen-ok.sh").display());
    let bin = Bin::start(&p, &gen, &[]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp_pydantic.py");
    let out = Command::new(&python)
        .current_dir(p.dir.path())
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_adsched"))
        .arg(format!("http://127.0.0.1:{}", bin.port))
        .arg(p.path("state"))
        .arg(p.path("templates"))
        .arg(p.path("schedules"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    eprintln!("pydantic-ai agent: {summary}");
    assert_eq!(summary["schedules"], json!(["mail", "quiet"]), "{summary}");
    assert_eq!(summary["validated"], true);
    assert_eq!(summary["tools"].as_array().unwrap().len(), TOOLS.len());
}
