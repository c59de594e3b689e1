//! `gateway`: run, build and inspect sandboxed tools.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use gateway::catalog;
use gateway::runtime::{CallReport, LoadedTool, Runtime};
use gateway::settings::Settings;

/// The allocator: see host/Cargo.toml on why (measured in BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Agent Gateway: runs an organisation's tools as sandboxed WebAssembly
/// components with capability-limited, read-only HTTP.
#[derive(Debug, Parser)]
#[command(name = "gateway", version, propagate_version = true)]
struct Cli {
    /// Gateway configuration file (the admin's grants and overrides).
    #[arg(long, global = true, env = "GATEWAY_CONFIG")]
    config: Option<PathBuf>,
    /// Folder of tool folders (overrides the config file).
    #[arg(long, global = true, env = "GATEWAY_TOOLS_DIR")]
    tools_dir: Option<PathBuf>,
    /// Field registry folder (overrides the config file) [default: fields].
    #[arg(long, global = true, env = "GATEWAY_FIELDS_DIR")]
    fields_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build and check tools.
    #[command(subcommand)]
    Tool(ToolCommand),
    /// List the tools in the tools folder.
    #[command(subcommand)]
    Tools(ToolsCommand),
    /// Run one sandboxed call and print the JSON result on stdout; duration,
    /// upstream bytes and output bytes go to stderr.
    Call {
        /// A tool folder, or the name of a tool in the tools folder.
        tool: String,
        /// Input as a JSON object.
        input: String,
    },
    /// Serve every tool in the tools folder, and the built-in tools, over MCP.
    /// `MCP_TRANSPORT=sse` or `http` serves Streamable HTTP at /mcp and the
    /// legacy SSE transport at /sse on one port; `stdio` serves one client.
    Serve(ServeArgs),
    /// Check the field registry.
    #[command(subcommand)]
    Fields(FieldsCommand),
    /// Team keys for the MCP listener ([auth] mode = "keys"): create, list,
    /// revoke. The keys file ([auth] keys_file, default keys.toml beside
    /// gateway.toml) holds hashes only; `gateway serve` follows it live.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Approved definitions of upstream MCP tools (docs/upstream-pins.md):
    /// status, approve. A tool whose definition is new or changed is not
    /// served until approved. Exits 1 when an approval is refused, 2 when
    /// the pins file ([upstream] pins_file) cannot be used.
    #[command(subcommand)]
    Upstream(UpstreamCommand),
    /// Review changed tool folders and field files (safety, security,
    /// quality, tests, output design, pairing, fields) and show the admin
    /// what each tool may now do. Prints the review; exits 1 when it failed.
    Qa(QaArgs),
    /// After a merge: copy each new or changed skill (a tool folder under
    /// --skills) into the tools folder once it builds and its cases pass,
    /// merge the operators' field files into the registry, and install the
    /// tools into running gateways through their admin API. Idempotent.
    Promote(PromoteArgs),
    /// Compile a component into the artifact cache under a memory budget
    /// (what `gateway serve` runs, as a child process, for each new tool).
    #[command(hide = true)]
    Precompile {
        /// Artifact cache folder.
        #[arg(long)]
        cache_dir: PathBuf,
        /// Address-space limit in bytes.
        #[arg(long)]
        memory_bytes: u64,
        /// The component file.
        input: PathBuf,
    },
    /// Record a tool's upstream answers, or serve them as a mock upstream on 127.0.0.1.
    #[command(subcommand)]
    Fixtures(FixturesCommand),
    /// Check audit trails (docs/audit.md).
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check that every line of an audit file is a record chained to the
    /// one before; prints `ok: N lines, last <hash>` and exits 0, or names
    /// the first bad line and exits 1.
    Verify {
        /// The audit file.
        file: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// stdio, sse or http [default: stdio, as the seed].
    #[arg(long, env = "MCP_TRANSPORT")]
    transport: Option<String>,
    /// Address to bind [default: 127.0.0.1].
    #[arg(long, env = "MCP_SERVER_HOST")]
    host: Option<String>,
    /// Port to bind [default: 8000].
    #[arg(long, env = "MCP_SERVER_PORT")]
    port: Option<u16>,
    /// Server name announced to clients [default: agent-gateway].
    #[arg(long, env = "MCP_SERVER_NAME")]
    name: Option<String>,
    /// Also accept this Host header (a public hostname); loopback is always accepted.
    #[arg(long = "allowed-host")]
    allowed_hosts: Vec<String>,
    /// Accept browser requests from this Origin (scheme://host[:port]).
    #[arg(long = "allowed-origin")]
    allowed_origins: Vec<String>,
    /// After SIGTERM or SIGINT, how long calls in flight get to finish
    /// before the gateway exits anyway, in ms [default: 25000].
    #[arg(long, env = "GATEWAY_SHUTDOWN_GRACE_MS")]
    shutdown_grace_ms: Option<u64>,
    /// Admin API address, served only when GATEWAY_ADMIN_KEY or
    /// GATEWAY_ADMIN_KEY_FILE is set [default: 127.0.0.1:8001].
    #[arg(long, env = "GATEWAY_ADMIN_LISTEN")]
    admin_listen: Option<std::net::SocketAddr>,
    /// After SIGTERM, how long /readyz answers 503 while everything is still
    /// served, before connections are refused, in ms [default: 0].
    #[arg(long, env = "GATEWAY_SHUTDOWN_DELAY_MS")]
    shutdown_delay_ms: Option<u64>,
    /// How log lines are written to stderr: text, or json (one object per
    /// line, with one line per tool call: request id, tool, outcome,
    /// duration, bytes) [default: text].
    #[arg(long, env = "GATEWAY_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
}

/// How `gateway serve` writes its log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Compact human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl ServeArgs {
    /// The flags and environment, for [`gateway::server::ServeConfig::resolve`].
    fn into_overrides(self) -> gateway::server::Overrides {
        gateway::server::Overrides {
            transport: self.transport,
            host: self.host,
            port: self.port,
            name: self.name,
            allowed_hosts: self.allowed_hosts,
            allowed_origins: self.allowed_origins,
            shutdown_grace_ms: self.shutdown_grace_ms,
        }
    }
}

#[derive(Debug, Subcommand)]
enum ToolCommand {
    /// Build a tool folder (Rust: Cargo.toml + src/; Python: SKILL.md +
    /// scripts/<name>.py) into `tool.wasm`, check its manifest, exports and
    /// imports, and precompile it into the cache.
    Build {
        /// The tool folder (holds tool.toml).
        dir: PathBuf,
    },
    /// Create a tool folder that builds, calls and passes its own test.
    New {
        /// Tool name: lowercase letters, digits and '_', starting with a letter.
        name: String,
        /// Language of the tool.
        #[arg(long, value_enum, default_value = "python")]
        lang: Lang,
        /// Folder to create it in (default: the tools folder).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Rust: a local Rust guest SDK (guest-sdk/rust of a checkout) to
        /// depend on by path. Default: the checkout the folder is in, else
        /// this repository by git at this gateway's release tag.
        #[arg(long, env = gateway::build::scaffold::RUST_SDK_ENV)]
        sdk_path: Option<PathBuf>,
    },
    /// Run a Python tool's static checks with the sandbox's Python (what
    /// `tool build` runs first); prints file:line:column: code: message.
    Check {
        /// A Python tool folder, or its script.
        path: PathBuf,
    },
    /// Turn a plain Python script (requests, keys from os.environ) into a
    /// tool folder: tool.toml with the hosts and secrets it uses, the chosen
    /// function as the @tool, SKILL.md, and IMPORT-NOTES.md listing what to check.
    Import {
        /// The script.
        script: PathBuf,
        /// The function to make the tool [default: the one with the most parameters].
        #[arg(long)]
        function: Option<String>,
        /// The tool folder to create [default: <tools folder>/<function name>].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run a built tool's cases (fixtures/tests.toml) against its recorded
    /// upstream (fixtures/routes.toml) served on 127.0.0.1.
    Test {
        /// The tool folder.
        dir: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Lang {
    Python,
    Rust,
}

#[derive(Debug, clap::Args)]
struct QaArgs {
    /// Review what changed since the merge base of this ref and HEAD
    /// (committed or not), and compare each tool's grants with it.
    #[arg(long)]
    base: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "markdown")]
    format: QaFormat,
    /// Tool folders or field files to review (default: everything changed since --base).
    paths: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct PromoteArgs {
    /// The operators' skills folder.
    #[arg(long, default_value = "local-workspace/.claude/skills")]
    skills: PathBuf,
    /// The operators' field files.
    #[arg(long, default_value = "local-workspace/fields")]
    workspace_fields: PathBuf,
    /// Admin API of a running gateway (repeatable); the key is read from
    /// GATEWAY_ADMIN_KEY, or the file GATEWAY_ADMIN_KEY_FILE names. Without
    /// one, a gateway watching the tools folder
    /// picks the tools up itself.
    #[arg(long = "admin-url")]
    admin_urls: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: PromoteFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum PromoteFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum QaFormat {
    Markdown,
    Json,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create a key for a team, limited to tool patterns; prints it once.
    Create {
        /// The team (lowercase letters, digits, '_' and '-').
        #[arg(long)]
        team: String,
        /// Comma-separated tool patterns, `*` matching any run: 'stripe_*,hubspot_*'.
        #[arg(long)]
        tools: String,
        /// Lifetime: 90d, 12h or 2w [default: until revoked].
        #[arg(long)]
        expires: Option<String>,
        /// The keys file [default: [auth] keys_file].
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// One line per key: id, team, tools, created, expires, state.
    List {
        /// The keys file [default: [auth] keys_file].
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Revoke a key by id: it fails from its next request on.
    Revoke {
        /// The key's id (k_…).
        id: String,
        /// The keys file [default: [auth] keys_file].
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum UpstreamCommand {
    /// One line per upstream tool: name, state (approved, pending or
    /// changed, with what changed), approved and seen hash.
    Status {
        /// The whole record of each tool as JSON, full hashes included.
        #[arg(long)]
        json: bool,
        /// The pins file [default: [upstream] pins_file].
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Approve the definition each tool lists now; prints what it approved.
    #[command(group(
        clap::ArgGroup::new("which")
            .required(true)
            .args(["names", "connection", "all_pending"])
    ))]
    Approve {
        /// Served names (`<connection>__<tool>`).
        names: Vec<String>,
        /// Every tool of this connection.
        #[arg(long)]
        connection: Option<String>,
        /// Every tool that is pending or changed.
        #[arg(long)]
        all_pending: bool,
        /// The hash you reviewed (full, or its first 16 hex digits as
        /// `status` shows them): a tool whose definition has another hash
        /// now is refused, and nothing is approved.
        #[arg(long)]
        hash: Option<String>,
        /// The pins file [default: [upstream] pins_file].
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum ToolsCommand {
    /// One line per tool folder: name, status, integration, hosts.
    List,
    /// A tool's MCP definition exactly as `tools/list` serves it to agents:
    /// name, description, input schema, and output schema with the field
    /// registry's meanings, as JSON on stdout.
    Show {
        /// The tool's name in the tools folder, or its folder.
        tool: String,
    },
}

#[derive(Debug, Subcommand)]
enum FieldsCommand {
    /// Report every problem in the field registry's files, one per line as
    /// file:line:column: message; exits 1 when there is any.
    Lint {
        /// The folder to check [default: the fields folder].
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum FixturesCommand {
    /// Serve `<tool-dir>/fixtures/routes.toml` until interrupted.
    Serve {
        /// The tool folder.
        dir: PathBuf,
        /// Address to listen on (loopback only).
        #[arg(long, default_value = "127.0.0.1:8089")]
        listen: std::net::SocketAddr,
    },
    /// Call a built tool once against its real upstream with your local
    /// credentials (the environment, then the nearest .env up to the
    /// repository root) and write each response, secrets scrubbed, into
    /// `<tool-dir>/fixtures/` with routes.toml and a tests.toml case.
    Record {
        /// The tool folder.
        dir: PathBuf,
        /// Input as a JSON object.
        input: String,
        /// Add to an existing routes.toml (a route for the same request is replaced).
        #[arg(long, conflicts_with = "force")]
        append: bool,
        /// Write a new routes.toml in place of an existing one.
        #[arg(long)]
        force: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The compile-only child: no async runtime, no settings.
    if let Command::Precompile {
        cache_dir,
        memory_bytes,
        input,
    } = &cli.command
    {
        let _ = init_tracing(LogFormat::Text, false);
        let code = gateway::hotload::compile::run_child(input, cache_dir, *memory_bytes);
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    // Exit without waiting for blocking threads: a stdin read that a
    // shutdown left pending would otherwise hold the process.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        // A reader that stops early (`gateway call ... | head`) is not an error.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}", terminal_safe(&describe_error(&e)));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, skipping causes the message already states.
fn describe_error(e: &anyhow::Error) -> String {
    let mut message = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !message.contains(&cause) {
            message = format!("{message}: {cause}");
        }
    }
    message
}

/// The log's filter from `spec` (`GATEWAY_LOG` or `RUST_LOG` syntax):
/// warnings by default, and serving, one info line per tool call
/// (`gateway::calls`). rmcp's own per-session info lines (a session opened,
/// a stream ended) stay at warn unless `spec` names `rmcp` itself
/// (docs/observability.md). A spec that does not parse falls back to the
/// default.
fn log_filter(spec: Option<String>, serving: bool) -> tracing_subscriber::EnvFilter {
    let default = if serving {
        "warn,gateway::calls=info"
    } else {
        "warn"
    };
    let chatty = |spec: &str| {
        tracing_subscriber::EnvFilter::try_new(spec)
            .ok()
            .and_then(|filter| filter.max_level_hint())
            .is_some_and(|level| level > tracing::level_filters::LevelFilter::WARN)
    };
    let spec = match spec {
        Some(spec) if !spec.contains("rmcp") && chatty(&spec) => format!("{spec},rmcp=warn"),
        Some(spec) => spec,
        None => default.to_owned(),
    };
    tracing_subscriber::EnvFilter::try_new(spec)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default))
}

/// Whether the log filter made from `spec` (while serving) lets the call
/// lines (`gateway::calls` at info) through.
fn lets_call_lines_through(spec: Option<String>) -> bool {
    use tracing_subscriber::layer::SubscriberExt;
    let subscriber = tracing_subscriber::registry().with(log_filter(spec, true));
    tracing::subscriber::with_default(
        subscriber,
        || tracing::enabled!(target: "gateway::calls", tracing::Level::INFO),
    )
}

/// The log on stderr (`GATEWAY_LOG`, else `RUST_LOG`, filters it;
/// `format` shapes it; docs/observability.md). `serving`: written in
/// batches by a thread of its own (keep the returned flush until the end).
fn init_tracing(format: LogFormat, serving: bool) -> Option<gateway::telemetry::logs::LogFlush> {
    use gateway::telemetry::logs::CallLineFormat;
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let spec = std::env::var("GATEWAY_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok();
    let calls = serving && lets_call_lines_through(spec.clone());
    // Serving, lines are written in batches by a thread of its own
    // (telemetry/logs.rs), or straight to stderr if it cannot start.
    let batched = serving
        .then(gateway::telemetry::logs::BatchedStderr::start)
        .and_then(Result::ok);
    // Call lines in the batch bypass `tracing`: by default its filter then
    // stays at warn, so no info-level callsite anywhere is looked at per
    // call (docs/observability.md).
    let filter = match (&spec, &batched) {
        (None, Some(_)) => log_filter(None, false),
        _ => log_filter(spec, serving),
    };
    let mut flush = None;
    let writer = batched.map(|(writer, flushed)| {
        flush = Some(flushed);
        writer
    });
    let carry = |writer: &gateway::telemetry::logs::BatchedStderr, format: CallLineFormat| {
        if calls {
            writer.carry_call_lines(format);
        }
    };
    let log = match (format, writer) {
        (LogFormat::Text, Some(writer)) => {
            // A call writes its own text line into the batch.
            carry(&writer, CallLineFormat::Text);
            tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .compact()
                .boxed()
        }
        (LogFormat::Text, None) => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .compact()
            .boxed(),
        (LogFormat::Json, writer) => {
            let json = tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false);
            match writer {
                Some(writer) => {
                    // A call writes its own JSON line into the batch.
                    carry(&writer, CallLineFormat::Json);
                    json.with_writer(writer).boxed()
                }
                None => json.with_writer(std::io::stderr).boxed(),
            }
        }
    }
    .with_filter(filter);
    // A second init (never in the binary) is ignored.
    let _ = tracing_subscriber::registry().with(log).try_init();
    flush
}

fn settings(cli: &Cli) -> anyhow::Result<Settings> {
    let mut settings = match &cli.config {
        Some(file) => Settings::load(file)?,
        None => Settings::default(),
    };
    if let Some(dir) = &cli.tools_dir {
        settings.tools_dir = dir.clone();
    }
    if let Some(dir) = &cli.fields_dir {
        settings.fields_dir = dir.clone();
    }
    // A component `gateway tool build` compiled without this configuration
    // sits in the per-user default cache: read it there rather than
    // compiling it again (docs/hotload.md).
    settings.cache_fallback = Some(gateway::settings::default_cache_dir());
    Ok(settings)
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = settings(&cli)?;
    if let Command::Serve(args) = cli.command {
        // Traces are exported by `gateway serve` only, when configured.
        let provider = gateway::telemetry::trace::provider(&settings.telemetry)?;
        let traces = provider
            .as_ref()
            .map(|p| gateway::telemetry::trace::Traces::new(p, settings.telemetry.sandbox_spans));
        let flush = init_tracing(args.log_format, true);
        let served = serve(settings, args, traces).await;
        if let Some(provider) = provider {
            // The last batch goes out before the process exits.
            let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        }
        // The log lines still queued are written before the process ends.
        drop(flush);
        return served;
    }
    let _ = init_tracing(LogFormat::Text, false);
    match cli.command {
        Command::Tool(ToolCommand::Build { dir }) => build(settings, &dir).await,
        Command::Tool(ToolCommand::New {
            name,
            lang,
            dir,
            sdk_path,
        }) => {
            let parent = dir.unwrap_or_else(|| settings.tools_dir.clone());
            let language = match lang {
                Lang::Python => gateway::build::Language::Python,
                Lang::Rust => gateway::build::Language::Rust,
            };
            let created = gateway::build::scaffold::new_tool_with_sdk(
                &parent,
                &name,
                language,
                sdk_path.as_deref(),
            )?;
            eprintln!("created {}", created.display());
            eprintln!(
                "next: gateway tool build {0} && gateway tool test {0}",
                created.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Tool(ToolCommand::Check { path }) => check(&path),
        Command::Tool(ToolCommand::Import {
            script,
            function,
            out,
        }) => {
            let imported = gateway::build::import::import_script(
                &script,
                function.as_deref(),
                out.as_deref(),
                &settings.tools_dir,
            )?;
            eprintln!(
                "created {} (tool {})",
                imported.dir.display(),
                imported.name
            );
            for note in &imported.notes {
                eprintln!("  check: {}", terminal_safe(note));
            }
            eprintln!(
                "next: fill in fixtures/, then gateway tool build {0} && gateway tool test {0}",
                imported.dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Tool(ToolCommand::Test { dir }) => test(&settings, &dir).await,
        Command::Tools(ToolsCommand::List) => list(&settings),
        Command::Tools(ToolsCommand::Show { tool }) => show(settings, &tool).await,
        Command::Call { tool, input } => call(settings, &tool, &input).await,
        // Handled above, with its own log and traces.
        Command::Serve(args) => serve(settings, args, None).await,
        Command::Precompile { .. } => Ok(ExitCode::FAILURE),
        Command::Qa(args) => qa(settings, args).await,
        Command::Keys(command) => keys(&settings, command),
        Command::Upstream(command) => upstream(&settings, command),
        Command::Promote(args) => promote(settings, args).await,
        Command::Fields(FieldsCommand::Lint { dir }) => {
            fields_lint(dir.as_deref().unwrap_or(&settings.fields_dir))
        }
        Command::Fixtures(FixturesCommand::Serve { dir, listen }) => {
            let server = gateway::fixtures::FixtureServer::start_from_dir(&dir, listen).await?;
            eprintln!(
                "serving {} on http://{} (Ctrl-C to stop)",
                dir.display(),
                server.addr()
            );
            tokio::signal::ctrl_c().await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Fixtures(FixturesCommand::Record {
            dir,
            input,
            append,
            force,
        }) => {
            let mode = match (append, force) {
                (true, _) => gateway::record::Mode::Append,
                (_, true) => gateway::record::Mode::Force,
                _ => gateway::record::Mode::Create,
            };
            record(&settings, &dir, &input, mode).await
        }
        Command::Audit(AuditCommand::Verify { file }) => {
            let summary = gateway::audit::verify(&file)?;
            let last = summary.last_hash.short();
            writeln!(
                std::io::stdout(),
                "ok: {} lines, last {last}",
                summary.lines
            )?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `gateway fixtures record`: the tool's output on stdout, the summary on stderr.
async fn record(
    settings: &Settings,
    dir: &Path,
    input: &str,
    mode: gateway::record::Mode,
) -> anyhow::Result<ExitCode> {
    let credentials = gateway::record::Credentials::discover(&std::env::current_dir()?)?;
    let recording = gateway::record::record(dir, input, settings, &credentials, mode).await?;
    writeln!(
        std::io::stdout(),
        "{}",
        terminal_safe(&serde_json::to_string_pretty(&recording.output)?)
    )?;
    for line in recording.summary() {
        eprintln!("{}", terminal_safe(&line));
    }
    eprintln!("next: gateway tool test {}", dir.display());
    Ok(ExitCode::SUCCESS)
}

async fn build(settings: Settings, dir: &Path) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let mut progress = |step: &str| eprintln!("[{:>5.1}s] {step}", started.elapsed().as_secs_f64());
    // Built beside tool.wasm under a name of its own, checked and compiled
    // into the cache, and only then renamed over tool.wasm: a gateway
    // serving this folder sees one change, whose artifact is already
    // cached, and a build that fails its checks replaces nothing
    // (docs/hotload.md).
    let staged = dir.join(".tool.wasm.building");
    let built = gateway::build::build_tool_to(dir, &staged, &mut progress);
    let (_, language, staged) = match built {
        Ok(built) => built,
        Err(e) => {
            let _ = std::fs::remove_file(&staged);
            return Err(e.into());
        }
    };
    progress(&format!(
        "checking exports and imports, precompiling{}",
        if language == gateway::build::Language::Python {
            " (about 15 s for CPython)"
        } else {
            ""
        }
    ));
    // Building checks the component, it does not call upstreams: the
    // gateway's secrets are not needed here, only their names, and whether
    // a deployment grants them is the admin's decision at serve time.
    let mut settings = settings;
    let manifest = gateway::manifest::Manifest::load(&dir.join(gateway::manifest::MANIFEST_FILE))?;
    let vars = manifest.secret_vars()?;
    settings.secret_grants.grant(&manifest.name, vars);
    let runtime = Runtime::with_secrets(
        settings,
        std::sync::Arc::new(|_| Some("build-check".to_string())),
    )?;
    let component = dir.join(gateway::manifest::COMPONENT_FILE);
    let loaded = match std::fs::read(&staged) {
        Ok(bytes) => runtime.load(manifest, component.clone(), bytes).await,
        Err(e) => {
            let _ = std::fs::remove_file(&staged);
            return Err(anyhow::Error::new(e).context(format!("reading {}", staged.display())));
        }
    };
    let tool = match loaded {
        Ok(tool) => tool,
        Err(e) => {
            let _ = std::fs::remove_file(&staged);
            return Err(e.into());
        }
    };
    std::fs::rename(&staged, &component)
        .with_context(|| format!("moving {} to {}", staged.display(), component.display()))?;
    // Literal URLs the policy would refuse, before anything runs.
    for lesson in gateway::outbound::teach::literal_lessons(&tool) {
        eprintln!("warning: {}", terminal_safe(&lesson.to_string()));
    }
    let size = std::fs::metadata(&component).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "ok: {} ({} KiB, sha256 {}, {:?})",
        tool.definition.name,
        size / 1024,
        &tool.component_sha256[..12],
        tool.cache
    );
    Ok(ExitCode::SUCCESS)
}

/// `gateway qa`: the review on stdout; progress on stderr; 1 when it failed.
async fn qa(settings: Settings, args: QaArgs) -> anyhow::Result<ExitCode> {
    if args.base.is_none() && args.paths.is_empty() {
        eprintln!("error: name what to review: --base <ref>, or tool folders and field files");
        return Ok(ExitCode::from(2));
    }
    let options = gateway::qa::Options {
        repo: std::env::current_dir()?,
        base: args.base,
        paths: args.paths,
        settings,
    };
    let started = std::time::Instant::now();
    let mut progress = |step: &str| eprintln!("[{:>5.1}s] {step}", started.elapsed().as_secs_f64());
    // 2, not 1: the review could not be made, which is not a failed review.
    let review = match gateway::qa::review(options, &mut progress).await {
        Ok(review) => review,
        Err(e) => {
            eprintln!("error: {}", terminal_safe(&e.to_string()));
            return Ok(ExitCode::from(2));
        }
    };
    let text = match args.format {
        QaFormat::Markdown => gateway::qa::report::markdown(&review),
        QaFormat::Json => serde_json::to_string_pretty(&review)? + "\n",
    };
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(if review.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The admin key for `gateway promote --admin-url`: GATEWAY_ADMIN_KEY, or
/// the first line of the file GATEWAY_ADMIN_KEY_FILE names (not both).
fn admin_key_from_env() -> anyhow::Result<Option<String>> {
    use gateway::admin::auth::{KEY_ENV, KEY_FILE_ENV};
    let key = std::env::var(KEY_ENV).ok().filter(|k| !k.is_empty());
    let Some(file) = std::env::var_os(KEY_FILE_ENV) else {
        return Ok(key);
    };
    anyhow::ensure!(
        key.is_none(),
        "{KEY_ENV} and {KEY_FILE_ENV} are both set: set one"
    );
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("{KEY_FILE_ENV} {}", Path::new(&file).display()))?;
    Ok(Some(text.trim_end_matches(['\n', '\r']).to_owned()).filter(|k| !k.is_empty()))
}

/// `gateway promote`: what it did on stdout, progress on stderr; 1 when a
/// gateway did not take a tool.
async fn promote(settings: Settings, args: PromoteArgs) -> anyhow::Result<ExitCode> {
    use gateway::promote::{FieldsChange, InstallOutcome, ToolChange, promote};
    let options = gateway::promote::Options {
        skills: args.skills,
        workspace_fields: args.workspace_fields,
        admin_urls: args.admin_urls,
        admin_key: admin_key_from_env()?,
        settings,
    };
    let started = std::time::Instant::now();
    let mut progress = |step: &str| {
        eprintln!(
            "[{:>5.1}s] {}",
            started.elapsed().as_secs_f64(),
            terminal_safe(step)
        )
    };
    let done = promote(&options, &mut progress).await?;
    let mut out = std::io::stdout().lock();
    if let PromoteFormat::Json = args.format {
        writeln!(out, "{}", serde_json::to_string_pretty(&done)?)?;
    } else {
        for f in &done.fields {
            let what = match &f.change {
                FieldsChange::Added => "added".to_owned(),
                FieldsChange::Updated { added } => format!("updated (+{})", added.join(", +")),
                FieldsChange::SyncedBack { added } => {
                    format!(
                        "operators' copy brought up to date (+{})",
                        added.join(", +")
                    )
                }
                FieldsChange::Unchanged => "unchanged".to_owned(),
            };
            writeln!(out, "fields  {:<40} {what}", f.to.display())?;
        }
        for t in &done.tools {
            let what = match t.change {
                ToolChange::Added => format!("added, {} cases passed", t.cases_passed),
                ToolChange::Updated => format!("updated, {} cases passed", t.cases_passed),
                ToolChange::Unchanged => "unchanged".to_owned(),
            };
            writeln!(out, "tool    {:<40} {what}", t.name)?;
            for (url, outcome) in &t.installs {
                let said =
                    match outcome {
                        InstallOutcome::Answered(
                            gateway::promote::install::Installed::Accepted { change },
                        ) => change.clone(),
                        InstallOutcome::Answered(
                            gateway::promote::install::Installed::Refused { code, message, .. },
                        ) => format!("REFUSED {code}: {message}"),
                        InstallOutcome::Unreachable { error } => format!("UNREACHABLE: {error}"),
                    };
                writeln!(out, "          {url}: {}", terminal_safe(&said))?;
            }
            if t.change != ToolChange::Unchanged && !t.secrets.is_empty() {
                let vars: Vec<&str> = t.secrets.iter().map(String::as_str).collect();
                writeln!(
                    out,
                    "          provision on the gateway: {}; grant in gateway.toml: [tools.{}] secrets = [\"{}\"]",
                    vars.join(", "),
                    t.name,
                    vars.join("\", \"")
                )?;
            }
        }
        for (url, lacking) in done.lacking() {
            for (var, code) in lacking {
                let why = if code == "secret_not_granted" {
                    "not granted in its gateway.toml"
                } else {
                    "not set in its environment"
                };
                writeln!(out, "lacking {url}: {var} ({why})")?;
            }
        }
    }
    Ok(if done.installed_everywhere() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `gateway keys`: the key goes to stdout once; everything else to stderr
/// or as a table on stdout.
fn keys(settings: &Settings, command: KeysCommand) -> anyhow::Result<ExitCode> {
    use gateway::auth::keys;
    let file = |f: Option<PathBuf>| f.unwrap_or_else(|| settings.auth.keys_file.clone());
    match command {
        KeysCommand::Create {
            team,
            tools,
            expires,
            file: f,
        } => {
            let path = file(f);
            let patterns: Vec<String> = tools
                .split(',')
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .collect();
            let lifetime = expires.as_deref().map(keys::parse_lifetime).transpose()?;
            let (key, record) = keys::create(&path, &team, &patterns, lifetime)?;
            println!("{key}");
            eprintln!(
                "created {} for team {} (tools {}){}; stored as a hash in {}. This is the only time the key is shown.",
                record.id,
                record.team,
                record.tools.join(","),
                record
                    .expires
                    .as_deref()
                    .map(|e| format!(", expires {e}"))
                    .unwrap_or_default(),
                path.display()
            );
        }
        KeysCommand::List { file: f } => {
            let mut out = std::io::stdout().lock();
            for k in keys::list(&file(f))? {
                let state = if k.revoked.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                writeln!(
                    out,
                    "{:<16} {:<16} {:<32} {:<22} {:<22} {state}",
                    k.id,
                    k.team,
                    k.tools.join(","),
                    k.created,
                    k.expires.as_deref().unwrap_or("-")
                )?;
            }
        }
        KeysCommand::Revoke { id, file: f } => {
            let record = keys::revoke(&file(f), &id)?;
            eprintln!(
                "revoked {} (team {}); gateways following the file refuse it from its next request",
                record.id, record.team
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `gateway upstream`: the table or JSON on stdout, approvals on stdout,
/// refusals on stderr with exit 1, an unusable pins file with exit 2.
fn upstream(settings: &Settings, command: UpstreamCommand) -> anyhow::Result<ExitCode> {
    use gateway::upstream::pins::{ApprovalOutcome, PinError, PinStore, Selection, State};
    let store = |f: Option<PathBuf>| {
        PinStore::new(f.unwrap_or_else(|| settings.upstream.pins_file.clone()))
    };
    // A name or hash from an upstream or the file, on one line of the terminal.
    let cell = |text: &str| terminal_safe(&text.replace(['\n', '\t'], " ")).into_owned();
    let short = |hash: &str| {
        hash.get(..gateway::upstream::pins::MIN_HASH_PREFIX)
            .unwrap_or(hash)
            .to_owned()
    };
    let refused = |e: PinError| -> ExitCode {
        eprintln!("error: {}", cell(&e.to_string()));
        // A hash that is not one is a usage error, like clap's.
        if e.is_file_error() || matches!(e, PinError::BadHash(_)) {
            ExitCode::from(2)
        } else {
            ExitCode::FAILURE
        }
    };
    let mut out = std::io::stdout().lock();
    match command {
        UpstreamCommand::Status { json, file } => {
            let store = store(file);
            let rows = match store.status() {
                Ok(rows) => rows,
                Err(e) => return Ok(refused(e)),
            };
            if json {
                let doc = serde_json::json!({"file": store.path(), "tools": rows});
                writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
                return Ok(ExitCode::SUCCESS);
            }
            let width = rows
                .iter()
                .map(|r| cell(&r.name).chars().count())
                .max()
                .unwrap_or(0)
                .max(4);
            if rows.is_empty() {
                eprintln!("no upstream tool recorded in {}", store.path().display());
                return Ok(ExitCode::SUCCESS);
            }
            writeln!(
                out,
                "{:<width$}  {:<8}  {:<16}  SEEN",
                "NAME", "STATE", "APPROVED"
            )?;
            for row in &rows {
                let mut line = format!(
                    "{:<width$}  {:<8}  {:<16}  {:<16}",
                    cell(&row.name),
                    row.state.as_str(),
                    row.approved
                        .as_deref()
                        .map_or_else(|| "-".to_owned(), short),
                    short(&row.seen),
                );
                if row.state == State::Changed && !row.changes.is_empty() {
                    let parts: Vec<&str> = row.changes.iter().map(|p| p.as_str()).collect();
                    line.push_str(&format!("  changed: {}", parts.join(", ")));
                }
                writeln!(out, "{}", line.trim_end())?;
            }
            let waiting = rows.iter().filter(|r| r.state != State::Approved).count();
            if waiting > 0 {
                eprintln!(
                    "{waiting} tool(s) not served until approved: review with `gateway upstream status --json`, then `gateway upstream approve NAME --hash SEEN`"
                );
            }
        }
        UpstreamCommand::Approve {
            names,
            connection,
            all_pending,
            hash,
            file,
        } => {
            let selection = match (connection, all_pending) {
                (Some(connection), _) => Selection::Connection(connection),
                (None, true) => Selection::AllPending,
                (None, false) => Selection::Tools(names),
            };
            let approvals = match store(file).approve(&selection, hash.as_deref()) {
                Ok(approvals) => approvals,
                Err(e) => return Ok(refused(e)),
            };
            if approvals.is_empty() {
                eprintln!("nothing to approve");
            }
            for a in &approvals {
                match &a.outcome {
                    ApprovalOutcome::Approved { previous } => writeln!(
                        out,
                        "approved {} {}{}",
                        cell(&a.name),
                        a.hash,
                        previous
                            .as_deref()
                            .map(|p| format!(" (was {p})"))
                            .unwrap_or_default()
                    )?,
                    ApprovalOutcome::AlreadyApproved => {
                        writeln!(out, "already approved {} {}", cell(&a.name), a.hash)?
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `gateway tool check`: the build's static checks alone.
fn check(path: &Path) -> anyhow::Result<ExitCode> {
    let script = if path.is_dir() {
        let manifest =
            gateway::manifest::Manifest::load(&path.join(gateway::manifest::MANIFEST_FILE))?;
        path.join("scripts").join(format!("{}.py", manifest.name))
    } else {
        path.to_path_buf()
    };
    let mut progress = |step: &str| eprintln!("{step}");
    let diagnostics = gateway::build::sandbox_check::check_script(&script, &mut progress)?;
    for d in &diagnostics {
        println!("{}", terminal_safe(&d.to_string()));
    }
    if diagnostics.is_empty() {
        eprintln!("ok: {}", script.display());
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::FAILURE)
    }
}

/// Where a tool may connect, with this deployment's config overrides applied.
fn destinations(settings: &Settings, m: &gateway::manifest::Manifest) -> String {
    let config = m.effective_config(&settings.overrides_for(&m.name));
    match m.rules(&config) {
        Ok(rules) if rules.is_empty() => "(no outbound access)".to_string(),
        Ok(rules) => rules
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
        Err(e) => format!("(invalid with this deployment's config: {e})"),
    }
}

async fn serve(
    settings: Settings,
    args: ServeArgs,
    traces: Option<gateway::telemetry::trace::Traces>,
) -> anyhow::Result<ExitCode> {
    use gateway::server::{ServeConfig, Transport};
    let admin_listen = args.admin_listen;
    let shutdown_delay = std::time::Duration::from_millis(
        args.shutdown_delay_ms
            .or(settings.server.shutdown_delay_ms)
            .unwrap_or(0),
    );
    // Replicas sharing this key serve each other's sessions (docs/scale-out.md).
    let session_key = gateway::mcp::session_id::SessionKey::configured(
        std::env::var(gateway::mcp::session_id::KEY_ENV).ok(),
        settings.server.session_key_file.as_deref(),
    )?
    .map(std::sync::Arc::new);
    let config = ServeConfig::resolve(&settings.server, args.into_overrides())?;
    // Before anything loads: an unsafe listener is refused at once.
    let auth = gateway::server::authenticator(&settings.auth, config.transport, config.addr)?;
    if let gateway::auth::Authenticator::OAuth(validator) = &auth {
        // A wrong issuer or key URL shows at start, not at the first call.
        match validator.refresh_keys().await {
            Ok(n) => tracing::info!(keys = n, "OAuth signing keys fetched"),
            Err(e) => eprintln!(
                "warning: OAuth signing keys not fetched yet: {e}; every token is refused until they are"
            ),
        }
    }

    let runtime = std::sync::Arc::new(Runtime::new(settings.clone())?);
    let fields = field_source(&settings.fields_dir)?;
    let assembled = gateway::server::assemble(
        runtime,
        &settings.tools_dir,
        fields,
        &config.name,
        gateway::hotload::compile::CompileBudget::default(),
    )
    .await
    .with_context(|| format!("reading tools folder {}", settings.tools_dir.display()))?;
    for e in &assembled.skipped {
        tracing::warn!("skipped: {e}");
        eprintln!("skipped: {}", terminal_safe(&e.to_string()));
    }
    let gateway = assembled.gateway;
    if let Some(key) = &session_key {
        gateway.share_confirmation_key(key);
    }
    if let Some(traces) = traces {
        let _ = gateway.traces.set(traces);
    }
    // The audit trail (docs/audit.md): every call and admin change, one line each.
    let audit = gateway::audit::AuditLog::from_settings(&settings.audit)?;
    if let Some(log) = &audit {
        let _ = gateway.audit.set(log.clone());
        let _ = assembled.loader.audit.set(log.clone());
        eprintln!("audit trail: {}", log.path().display());
    }
    let catalog = gateway.catalog.current();
    let registry = gateway.fields.current();
    for tool in catalog.iter() {
        if let Some(slug) = tool.manifest.integration.as_deref()
            && registry.get(slug).is_none()
        {
            eprintln!(
                "note: {} names integration {slug:?}, which has no fields/{slug}.yaml: its results are served unchecked",
                tool.definition.name
            );
        }
    }
    eprintln!(
        "{}: {} tool(s) from {}, {} field integration(s) from {}",
        config.name,
        catalog.len(),
        settings.tools_dir.display(),
        registry.integrations().len(),
        settings.fields_dir.display()
    );
    // Upstream MCP servers (docs/upstreams.md): a connections file that
    // cannot be used stops the start, so a typo never silently drops them.
    let upstream = &settings.upstream;
    let connections = gateway::upstream::watch::read_connections(&upstream.connections_file)?;
    if !connections.is_empty() {
        eprintln!(
            "{} upstream connection(s) from {} (approvals in {})",
            connections.len(),
            upstream.connections_file.display(),
            upstream.pins_file.display()
        );
    }
    gateway.upstreams.apply(connections);
    let _upstream_watcher =
        match gateway::upstream::watch::UpstreamWatcher::start(&gateway.upstreams, upstream) {
            Ok(watcher) => Some(watcher),
            Err(e) => {
                tracing::error!(
                    "{e}; upstream connections will not reload until the gateway restarts"
                );
                None
            }
        };
    // Admin API (docs/admin.md): its own listener, off unless GATEWAY_ADMIN_KEY is set.
    let admin = std::sync::Arc::clone(&assembled.loader);
    if let Some(addr) = gateway::admin::start(admin, &settings.admin, admin_listen).await? {
        eprintln!("admin API on http://{addr}/admin/tools");
    }
    // Tools added, replaced or removed in the folder are served without a restart.
    let _watcher =
        match gateway::hotload::watch::ToolsWatcher::start(assembled.loader, &settings.tools_dir) {
            Ok(watcher) => Some(watcher),
            Err(e) => {
                // Serving without hot-load beats not serving; say so loudly.
                tracing::error!("{e}; tools will not hot-load until the gateway restarts");
                eprintln!("warning: {e}; tools will not hot-load until the gateway restarts");
                None
            }
        };
    gateway.readiness.set_watcher_running(_watcher.is_some());
    // SIGTERM and SIGINT drain the calls in flight from here on (shutdown.rs).
    let shutdown = gateway::shutdown::Shutdown::default().with_delay(shutdown_delay);
    // Prometheus metrics (docs/observability.md): on the MCP listener, on
    // a listener of their own, or off.
    let metrics = &settings.metrics;
    if !metrics.enabled {
        gateway.metrics.turn_off();
    }
    if !metrics.enabled || metrics.listen.is_some() {
        gateway.metrics_off_listener();
    }
    if let (true, Some(addr)) = (metrics.enabled, metrics.listen) {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding [metrics] listen {addr}"))?;
        eprintln!("metrics on http://{}/metrics", listener.local_addr()?);
        let serving = gateway::telemetry::serve_metrics(
            listener,
            std::sync::Arc::clone(&gateway),
            shutdown.clone(),
        );
        tokio::spawn(async move {
            if let Err(e) = serving.await {
                tracing::error!("metrics listener stopped: {e}");
            }
        });
    }
    match config.transport {
        Transport::Stdio => {
            let handler = gateway::mcp::handler::GatewayHandler::new(gateway);
            let signals = gateway::shutdown::Signals::listen()?;
            let server = gateway::mcp::stdio::serve(handler, shutdown.clone());
            let outcome = gateway::shutdown::run(&shutdown, server, signals, config.grace).await?;
            Ok(outcome.exit_code())
        }
        Transport::Http => {
            let listener = tokio::net::TcpListener::bind(config.addr)
                .await
                .with_context(|| format!("binding {}", config.addr))?;
            // The port bound, when asked for port 0.
            let addr = listener.local_addr()?;
            let mut door = config.door;
            door.auth = std::sync::Arc::new(auth);
            if session_key.is_some() {
                eprintln!(
                    "sessions: ids signed with the shared session key; any replica holding it serves them"
                );
            }
            door.session_key = session_key;
            if door.auth.required() {
                gateway.require_auth();
            }
            let app = gateway::mcp::http::app(gateway, door, shutdown.clone());
            let signals = gateway::shutdown::Signals::listen()?;
            eprintln!(
                "listening on http://{addr}/mcp (Streamable HTTP) and http://{addr}/sse (legacy SSE)"
            );
            let server = gateway::mcp::http::serve(
                listener,
                app,
                config.connection_limits,
                shutdown.clone(),
            );
            let outcome = gateway::shutdown::run(&shutdown, server, signals, config.grace).await?;
            if let Some(log) = audit {
                log.close().await?;
            }
            Ok(outcome.exit_code())
        }
    }
}

/// The field registry for `gateway serve`: the folder, watched, when it
/// exists; without one the field tools report no integrations.
fn field_source(dir: &Path) -> anyhow::Result<gateway::mcp::FieldSource> {
    if !dir.is_dir() {
        eprintln!(
            "note: no field registry at {}: results are served unchecked",
            dir.display()
        );
        return Ok(gateway::mcp::FieldSource::empty());
    }
    let watched = gateway::fields::Watched::start(dir)?;
    for problem in watched.errors().iter() {
        eprintln!("skipped: {}", terminal_safe(&problem.to_string()));
    }
    Ok(gateway::mcp::FieldSource::Watched(watched))
}

fn fields_lint(dir: &Path) -> anyhow::Result<ExitCode> {
    let problems = gateway::fields::lint(dir);
    let mut out = std::io::stdout().lock();
    for problem in &problems {
        writeln!(out, "{}", terminal_safe(&problem.to_string()))?;
    }
    if problems.is_empty() {
        let (registry, _) = gateway::fields::Registry::load(dir);
        let count: usize = registry.integrations().map(|i| i.fields.len()).sum();
        eprintln!(
            "ok: {} integration(s), {count} field(s) in {}",
            registry.integrations().len(),
            dir.display()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{} problem(s) in {}", problems.len(), dir.display());
        Ok(ExitCode::FAILURE)
    }
}

async fn test(settings: &Settings, dir: &Path) -> anyhow::Result<ExitCode> {
    let results = gateway::tooltest::run(dir, settings).await?;
    let mut failed = 0;
    for r in &results {
        match &r.verdict {
            gateway::tooltest::Verdict::Passed => eprintln!(
                "ok      {} ({:.1} ms, upstream {} B, output {} B)",
                terminal_safe(&r.name),
                r.report.duration.as_secs_f64() * 1000.0,
                r.report.upstream_bytes,
                r.report.output_bytes
            ),
            gateway::tooltest::Verdict::Failed(why) => {
                failed += 1;
                eprintln!("FAILED  {}: {}", terminal_safe(&r.name), terminal_safe(why));
                for lesson in &r.lessons {
                    eprintln!("        {}", terminal_safe(&lesson.to_string()));
                }
                // What reached the fixture server: which route a request missed.
                for seen in &r.upstream_requests {
                    eprintln!(
                        "        upstream got {} {}",
                        terminal_safe(&seen.method),
                        terminal_safe(&seen.target)
                    );
                }
            }
        }
    }
    writeln!(
        std::io::stdout(),
        "{} passed, {failed} failed",
        results.len() - failed
    )?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn list(settings: &Settings) -> anyhow::Result<ExitCode> {
    let found = catalog::scan(&settings.tools_dir)
        .with_context(|| format!("reading tools folder {}", settings.tools_dir.display()))?;
    let mut out = std::io::stdout().lock();
    for tool in found {
        match &tool.manifest {
            Ok(m) => {
                writeln!(
                    out,
                    "{:<28} {:<9} {:<12} {}",
                    m.name,
                    if tool.built { "built" } else { "not-built" },
                    m.integration.as_deref().unwrap_or("-"),
                    destinations(settings, m)
                )?;
            }
            Err(e) => writeln!(
                out,
                "{:<28} invalid   {}",
                terminal_safe(&tool.dir.display().to_string()),
                terminal_safe(&e.to_string())
            )?,
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The field registry `gateway serve` would load; its problems are
/// warnings here, as they are there.
fn field_registry(settings: &Settings) -> gateway::fields::Registry {
    let (registry, problems) = gateway::fields::Registry::load(&settings.fields_dir);
    for problem in problems {
        eprintln!("warning: {}", terminal_safe(&problem.to_string()));
    }
    registry
}

async fn show(settings: Settings, tool: &str) -> anyhow::Result<ExitCode> {
    let runtime = Runtime::new(settings.clone())?;
    let loaded = load_named(&runtime, &settings, tool).await?;
    let registry = field_registry(&settings);
    let definition = gateway::mcp::definitions::definition(&loaded, &registry);
    writeln!(
        std::io::stdout(),
        "{}",
        terminal_safe(&serde_json::to_string_pretty(&definition)?)
    )?;
    Ok(ExitCode::SUCCESS)
}

async fn call(settings: Settings, tool: &str, input: &str) -> anyhow::Result<ExitCode> {
    let runtime = Runtime::new(settings.clone())?;
    let loaded = load_named(&runtime, &settings, tool).await?;
    let mut report = runtime.call(&loaded, input).await;
    // The registry's check, as `gateway serve` attaches it to the result.
    if let (Ok(value), Some(slug)) = (
        report.result.as_mut(),
        loaded.manifest.integration.as_deref(),
    ) {
        let registry = field_registry(&settings);
        if let Some(found) = registry
            .get(slug)
            .and_then(|integration| gateway::fields::validate(integration, value))
        {
            gateway::fields::attach(value, found);
        }
    }
    print_report(&loaded, &report)?;
    for lesson in gateway::outbound::teach::lessons(&loaded, &report.denied) {
        eprintln!("{}", terminal_safe(&lesson.to_string()));
    }
    Ok(if report.result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn load_named(
    runtime: &Runtime,
    settings: &Settings,
    tool: &str,
) -> anyhow::Result<LoadedTool> {
    let dir = Path::new(tool);
    if dir.join(gateway::manifest::MANIFEST_FILE).is_file() {
        return Ok(runtime.load_dir(dir).await?);
    }
    for found in catalog::scan(&settings.tools_dir)? {
        if found.manifest.as_ref().is_ok_and(|m| m.name == tool) {
            return Ok(runtime.load_dir(&found.dir).await?);
        }
    }
    bail!(
        "no tool folder {tool:?} and no tool named {tool:?} in {}",
        settings.tools_dir.display()
    )
}

/// `text` safe for the operator's terminal: control characters (C0 but
/// newline and tab, DEL, C1) written as `\u{..}`, so a tool's or an
/// upstream's text cannot move the cursor, recolour or retitle the screen,
/// or overwrite what was printed (`\r`). Everything `gateway` prints that a
/// tool or an upstream wrote goes through it.
fn terminal_safe(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut safe = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            safe.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            safe.push(c);
        }
    }
    std::borrow::Cow::Owned(safe)
}

fn print_report(tool: &LoadedTool, report: &CallReport) -> anyhow::Result<()> {
    for line in &report.logs {
        eprintln!(
            "[{}] {:?} {:?}: {}",
            tool.definition.name,
            line.source,
            line.level,
            terminal_safe(&line.message)
        );
    }
    match &report.result {
        // JSON escapes C0 controls in strings, not DEL or C1 (U+009B is a
        // one-character CSI to some terminals).
        Ok(value) => writeln!(
            std::io::stdout(),
            "{}",
            terminal_safe(&serde_json::to_string_pretty(value)?)
        )?,
        Err(e) => eprintln!("error [{}]: {}", e.code(), terminal_safe(&e.to_string())),
    }
    // The content blocks after the JSON (docs/content.md), one line each.
    for (index, block) in report.content.iter().enumerate() {
        let summary = gateway::content::summary(block);
        eprintln!("content[{index}]: {}", terminal_safe(&summary));
    }
    let ratio = if report.output_bytes > 0 && report.upstream_bytes > 0 {
        format!(
            "{:.1}x smaller",
            report.upstream_bytes as f64 / report.output_bytes as f64
        )
    } else {
        "-".into()
    };
    eprintln!(
        "duration {:.2} ms, upstream {} bytes in {} request(s), output {} bytes ({ratio})",
        report.duration.as_secs_f64() * 1000.0,
        report.upstream_bytes,
        report.requests,
        report.output_bytes
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{lets_call_lines_through, log_filter, terminal_safe};

    /// Which of four probes `filter` lets through: a call line, a gateway
    /// info line, rmcp's info and warn lines.
    fn passes(filter: tracing_subscriber::EnvFilter) -> [bool; 4] {
        use tracing::Level;
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(filter);
        tracing::subscriber::with_default(subscriber, || {
            [
                tracing::enabled!(target: "gateway::calls", Level::INFO),
                tracing::enabled!(target: "gateway::hotload", Level::INFO),
                tracing::enabled!(target: "rmcp::service", Level::INFO),
                tracing::enabled!(target: "rmcp::service", Level::WARN),
            ]
        })
    }

    #[test]
    fn serving_logs_one_line_per_call_by_default_and_rmcp_sessions_only_when_named() {
        assert_eq!(passes(log_filter(None, true)), [true, false, false, true]);
        assert_eq!(passes(log_filter(None, false)), [false, false, false, true]);
        let info = Some("info".to_owned());
        assert_eq!(passes(log_filter(info, true)), [true, true, false, true]);
        let named = Some("info,rmcp=info".to_owned());
        assert_eq!(passes(log_filter(named, true)), [true, true, true, true]);
        assert!(lets_call_lines_through(None));
        assert!(lets_call_lines_through(Some("info".to_owned())));
        assert!(!lets_call_lines_through(Some("warn".to_owned())));
        let quiet = Some("error".to_owned());
        assert_eq!(
            passes(log_filter(quiet, true)),
            [false, false, false, false]
        );
    }

    #[test]
    fn control_characters_are_escaped_for_the_terminal() {
        for (raw, shown) in [
            ("plain text\nnext line\ttab", "plain text\nnext line\ttab"),
            ("\u{1b}[31mred\u{1b}[0m", "\\u{1b}[31mred\\u{1b}[0m"),
            ("done\rFAKE", "done\\u{d}FAKE"),
            ("\u{7f}\u{9b}2J\u{7}", "\\u{7f}\\u{9b}2J\\u{7}"),
            ("caf\u{e9} \u{1F600}", "caf\u{e9} \u{1F600}"),
        ] {
            assert_eq!(terminal_safe(raw), shown, "{raw:?}");
        }
    }
}
