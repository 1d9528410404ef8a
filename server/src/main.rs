//! The `pdu-bridge` binary: command line, configuration, logging, signals.
//! Everything else lives in the library.

use server::config::{parse_env_file, Config, RawSettings};
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

const USAGE: &str = "\
pdu-bridge — bridge, dashboard and automation for CyberPower switched ATS PDUs

USAGE:
    pdu-bridge [--env-file FILE] [--set KEY=VALUE]...

Settings come from the environment (PDU_HOST, BRIDGE_WEB_PORT, … as listed in
the README); --env-file reads a .env file first (the Python bridge's files
work unchanged) and --set overrides any setting. With no PDU_HOST the bridge
runs a demo on a simulated PDU44001.

OPTIONS:
    --env-file FILE    read KEY=VALUE settings from FILE
    --set KEY=VALUE    set one setting (wins over the environment)
    -h, --help         show this help
    -V, --version      show the version

COMMANDS (each takes --env-file and --set like the bridge):
    check              try the settings, the data folder, the history store,
                       every PDU and the MQTT broker; say what is wrong
                       (exit 0 all good, 1 something failed, 2 bad settings)
    backup FILE        copy the history store to FILE while the bridge runs
                       (a consistent snapshot); restore: stop the bridge, put
                       FILE at BRIDGE_HISTORY_DB, remove its -wal/-shm, start
    simulate           serve simulated PDUs over SNMP (pdu-bridge simulate --help)
    user add NAME --role ROLE
                       add a user; the password is read from standard input
                       (one line), or a random one is made and printed
    user passwd NAME   set a user's password (as for add); signs them out
    user role NAME ROLE
                       change a user's role (viewer, operator or admin)
    user remove NAME   remove a user
    user list          list users and their roles
    token create NAME --role ROLE
                       make an API token; printed once, on the last line
    token list         list tokens (never their secrets)
    token revoke ID|NAME
                       revoke a token

The user and token commands work on the access store (BRIDGE_AUTH_DB) while
the bridge runs or not, and are never locked out by sign-in throttling.";

const SIMULATE_USAGE: &str = "\
pdu-bridge simulate — simulated PDU44001s as SNMP v2c agents

USAGE:
    pdu-bridge simulate [--bind ADDR] [--port PORT] [--count N] [--seed N]
                        [--read-community C] [--write-community C]

Serves N simulated PDU44001s over SNMP v2c on UDP, one port each from PORT,
until Ctrl-C. The bridge polls them exactly like hardware.

OPTIONS:
    --bind ADDR              address to listen on (default 127.0.0.1)
    --port PORT              the first PDU's UDP port (default 11161)
    --count N                how many PDUs, 1 to 1000 (default 1)
    --seed N                 the first PDU's simulation seed (default 1)
    --probe                  each PDU has an environment probe (temperature,
                             humidity, two contacts)
    --read-community C       read-only community (default public)
    --write-community C      read-write community (default private)
    -h, --help               show this help";

fn settings(args: &[String]) -> Result<RawSettings, String> {
    let mut env_file = Vec::new();
    let mut sets = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--env-file" => {
                let path = args.next().ok_or("--env-file needs a file")?;
                let text = std::fs::read_to_string(path).map_err(|e| format!("--env-file {path}: {e}"))?;
                env_file = parse_env_file(path, &text).map_err(|e| e.to_string())?;
            }
            "--set" => {
                let pair = args.next().ok_or("--set needs KEY=VALUE")?;
                let (k, v) = pair.split_once('=').ok_or_else(|| format!("--set {pair:?}: expected KEY=VALUE"))?;
                sets.push((k.to_owned(), v.to_owned()));
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    Ok(RawSettings::new().layer(env_file).layer(std::env::vars()).layer(sets))
}

/// Ctrl-C or SIGTERM cancels `token`. The handlers are registered when this
/// is called, not when the future first runs: a signal that arrives right
/// after start-up must still shut down gracefully.
fn shutdown_signal(token: CancellationToken) -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let (mut interrupt, mut terminate) = {
        use tokio::signal::unix::{signal, SignalKind};
        (signal(SignalKind::interrupt()).ok(), signal(SignalKind::terminate()).ok())
    };
    async move {
        #[cfg(unix)]
        let (interrupted, terminated) = (
            async {
                match interrupt.as_mut() {
                    Some(s) => drop(s.recv().await),
                    None => std::future::pending().await,
                }
            },
            async {
                match terminate.as_mut() {
                    Some(s) => drop(s.recv().await),
                    None => std::future::pending().await,
                }
            },
        );
        #[cfg(not(unix))]
        let (interrupted, terminated) = (async { drop(tokio::signal::ctrl_c().await) }, std::future::pending::<()>());
        tokio::select! {
            _ = interrupted => {}
            _ = terminated => {}
            _ = token.cancelled() => return,
        }
        tracing::info!("shutting down");
        token.cancel();
    }
}

struct SimulateArgs {
    bind: std::net::IpAddr,
    port: u16,
    count: u16,
    seed: u64,
    /// Each simulated PDU has an environment probe.
    probe: bool,
    communities: server::snmp::agent::Communities,
}

fn simulate_args(args: &[String]) -> Result<SimulateArgs, String> {
    let mut parsed = SimulateArgs {
        bind: std::net::Ipv4Addr::LOCALHOST.into(),
        port: 11161,
        count: 1,
        seed: 1,
        probe: false,
        communities: server::snmp::agent::Communities { read: "public".into(), write: "private".into() },
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        if flag == "--probe" {
            parsed.probe = true;
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |what: &str| format!("{flag} {value:?}: expected {what}");
        match flag.as_str() {
            "--bind" => parsed.bind = value.parse().map_err(|_| bad("an IP address"))?,
            "--port" => parsed.port = value.parse().map_err(|_| bad("a port number"))?,
            "--count" => {
                parsed.count = value.parse().ok().filter(|n| (1..=1000).contains(n)).ok_or_else(|| bad("1 to 1000"))?
            }
            "--seed" => parsed.seed = value.parse().map_err(|_| bad("a whole number"))?,
            "--read-community" => parsed.communities.read.clone_from(value),
            "--write-community" => parsed.communities.write.clone_from(value),
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    Ok(parsed)
}

/// `pdu-bridge simulate`: simulated PDUs as SNMP agents.
async fn simulate(args: SimulateArgs) -> ExitCode {
    let shutdown = CancellationToken::new();
    let signalled = shutdown_signal(shutdown.clone());
    let mut agents = Vec::new();
    for i in 0..args.count {
        let Some(port) = args.port.checked_add(i) else {
            eprintln!("pdu-bridge: ports run past 65535");
            return ExitCode::from(2);
        };
        let addr = std::net::SocketAddr::new(args.bind, port);
        let socket = match tokio::net::UdpSocket::bind(addr).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("pdu-bridge: cannot listen on udp {addr}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let timeout = std::time::Duration::from_secs(2);
        let sim = server::pdu::sim::SimulatedPdu::new(args.seed + u64::from(i), timeout);
        if args.probe {
            sim.add_probe();
        }
        tracing::info!("simulated PDU44001 #{} on udp {addr}", i + 1);
        agents.push(tokio::spawn(server::snmp::agent::serve(socket, sim, args.communities.clone(), shutdown.clone())));
    }
    signalled.await;
    futures::future::join_all(agents).await;
    ExitCode::SUCCESS
}

/// Log at `level`. The embedded broker (rumqttd) reports every ordinary
/// client disconnect as an error, so its own lines show only when debugging.
fn init_logging(level: tracing::Level) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let broker = if level >= tracing::Level::DEBUG { LevelFilter::from_level(level) } else { LevelFilter::OFF };
    let filter = Targets::new().with_default(level).with_target("rumqttd", broker);
    tracing_subscriber::registry().with(tracing_subscriber::fmt::layer().with_target(false)).with(filter).init();
}

/// Run one command's future on a runtime of its own.
fn run_once(work: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Runtime::new() {
        Ok(rt) => rt.block_on(work),
        Err(e) => {
            eprintln!("pdu-bridge: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `pdu-bridge check`: one line a finding, then a count; exit 1 on a failure.
async fn check(config: Config) -> ExitCode {
    let findings = server::check::run(&config).await;
    for f in &findings {
        println!("{:<5} {}", f.verdict, f.text);
    }
    let failed = findings.iter().filter(|f| f.verdict == "FAIL").count();
    let fine = findings.iter().filter(|f| f.verdict == "ok").count();
    println!("check: {fine} ok, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `pdu-bridge backup FILE`: a consistent copy of the history store.
async fn backup(config: Config, file: String) -> ExitCode {
    let target = std::path::PathBuf::from(&file);
    let started = std::time::Instant::now();
    let result = match server::history::store::Store::open(&config.history_db).await {
        Ok(store) => store.backup_to(&target).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            let size = std::fs::metadata(&target).map(|m| m.len()).unwrap_or_default();
            println!(
                "backup of {} written to {} ({:.1} MB, {:.1} s)",
                config.history_db.display(),
                target.display(),
                size as f64 / 1e6,
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pdu-bridge backup: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What `pdu-bridge user|token …` was asked to do.
enum AccessCommand {
    UserAdd { name: String, role: app::access::Role },
    UserPasswd { name: String },
    UserRole { name: String, role: app::access::Role },
    UserRemove { name: String },
    UserList,
    TokenCreate { name: String, role: app::access::Role },
    TokenList,
    TokenRevoke { id: String },
}

/// Split `pdu-bridge user|token …` into the command and the remaining
/// (settings) arguments.
fn access_command(args: &[String]) -> Result<(AccessCommand, Vec<String>), String> {
    let mut words = Vec::new();
    let mut role = None;
    let mut rest = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--role" => {
                let value = iter.next().ok_or("--role needs viewer, operator or admin")?;
                role = Some(value.parse::<app::access::Role>()?);
            }
            "--env-file" | "--set" => {
                rest.push(arg.clone());
                rest.push(iter.next().ok_or_else(|| format!("{arg} needs a value"))?.clone());
            }
            other if other.starts_with("--") => return Err(format!("unknown argument {other:?} (see --help)")),
            other => words.push(other.to_owned()),
        }
    }
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let need_role = || role.ok_or("say which role with --role viewer|operator|admin".to_owned());
    let command = match words.as_slice() {
        ["user", "add", name] => AccessCommand::UserAdd { name: (*name).into(), role: need_role()? },
        ["user", "passwd", name] => AccessCommand::UserPasswd { name: (*name).into() },
        ["user", "role", name, r] => AccessCommand::UserRole { name: (*name).into(), role: r.parse()? },
        ["user", "remove", name] => AccessCommand::UserRemove { name: (*name).into() },
        ["user", "list"] => AccessCommand::UserList,
        ["token", "create", name] => AccessCommand::TokenCreate { name: (*name).into(), role: need_role()? },
        ["token", "list"] => AccessCommand::TokenList,
        ["token", "revoke", id] => AccessCommand::TokenRevoke { id: (*id).into() },
        _ => return Err(format!("{:?} is not a user or token command (see --help)", words.join(" "))),
    };
    Ok((command, rest))
}

/// A password from standard input (one line), or a random one to print.
fn password_from_stdin() -> Result<(String, bool), String> {
    use std::io::{BufRead, IsTerminal};
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok((server::auth::secret::random_password(), true));
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line).map_err(|e| format!("cannot read the password: {e}"))?;
    let line = line.trim_end_matches(['\n', '\r']).to_owned();
    if line.is_empty() {
        return Ok((server::auth::secret::random_password(), true));
    }
    Ok((line, false))
}

/// `pdu-bridge user …` and `pdu-bridge token …`, on the access store directly.
async fn access(config: Config, command: AccessCommand) -> ExitCode {
    use app::access::{Caller, CallerKind, Role, UserChange};
    let auth = match server::auth::Auth::open(&config.auth, &config.data_dir).await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("pdu-bridge: cannot open the access store {}: {e}", config.auth.db.display());
            return ExitCode::FAILURE;
        }
    };
    let user = std::env::var("USER").unwrap_or_else(|_| "shell".into());
    let shell = Caller { name: format!("shell:{user}"), kind: CallerKind::User, role: Role::Admin, from: None };
    let result: Result<(), String> = async {
        match command {
            AccessCommand::UserAdd { name, role } => {
                let (password, random) = password_from_stdin()?;
                auth.add_user(&shell, &name, role, &password).await.map_err(|e| e.to_string())?;
                println!("user {name} added as {role}");
                if random {
                    println!("password: {password}");
                }
            }
            AccessCommand::UserPasswd { name } => {
                let (password, random) = password_from_stdin()?;
                let change = UserChange { password: Some(password.clone()), ..Default::default() };
                auth.update_user(&shell, &name, &change).await.map_err(|e| e.to_string())?;
                println!("password of {name} changed; their sessions are ended");
                if random {
                    println!("password: {password}");
                }
            }
            AccessCommand::UserRole { name, role } => {
                let change = UserChange { role: Some(role), ..Default::default() };
                auth.update_user(&shell, &name, &change).await.map_err(|e| e.to_string())?;
                println!("{name} is now {role}");
            }
            AccessCommand::UserRemove { name } => {
                auth.remove_user(&shell, &name).await.map_err(|e| e.to_string())?;
                println!("user {name} removed");
            }
            AccessCommand::UserList => {
                for u in auth.users().await.map_err(|e| e.to_string())? {
                    println!("{:<24} {}", u.name, u.role);
                }
            }
            AccessCommand::TokenCreate { name, role } => {
                let token = auth.create_token(&shell, &name, role).await.map_err(|e| e.to_string())?;
                println!("token {name} ({role}, id {}) created; it is shown only now:", token.info.id);
                println!("{}", token.token);
            }
            AccessCommand::TokenList => {
                for t in auth.tokens().await.map_err(|e| e.to_string())? {
                    let used = t.last_used.map(|_| "used").unwrap_or("never used");
                    println!("{:<14} {:<24} {:<9} {used}", t.id, t.name, t.role.label());
                }
            }
            AccessCommand::TokenRevoke { id } => {
                auth.revoke_token(&shell, &id).await.map_err(|e| e.to_string())?;
                println!("token {id} revoked");
            }
        }
        Ok(())
    }
    .await;
    auth.close().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("pdu-bridge: {message}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let wants_help = args.iter().any(|a| a == "-h" || a == "--help");
    if args.first().map(String::as_str) == Some("simulate") && wants_help {
        println!("{SIMULATE_USAGE}");
        return ExitCode::SUCCESS;
    }
    if args.first().map(String::as_str) == Some("simulate") {
        let parsed = match simulate_args(&args[1..]) {
            Ok(p) => p,
            Err(message) => {
                eprintln!("pdu-bridge simulate: {message}");
                return ExitCode::from(2);
            }
        };
        init_logging(tracing::Level::INFO);
        return match tokio::runtime::Runtime::new() {
            Ok(rt) => rt.block_on(simulate(parsed)),
            Err(e) => {
                eprintln!("pdu-bridge: cannot start the async runtime: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if wants_help {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    if args.iter().any(|a| a == "-V" || a == "--version") {
        println!("pdu-bridge {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    if matches!(args.first().map(String::as_str), Some("user" | "token")) {
        let (command, rest) = match access_command(&args) {
            Ok(parsed) => parsed,
            Err(message) => {
                eprintln!("pdu-bridge: {message}");
                return ExitCode::from(2);
            }
        };
        return match settings(&rest).and_then(|raw| Config::validate(&raw).map_err(|e| e.to_string())) {
            Ok(config) => run_once(access(config, command)),
            Err(message) => {
                eprintln!("pdu-bridge: {message}");
                ExitCode::from(2)
            }
        };
    }
    let command = args.first().map(String::as_str).filter(|c| ["check", "backup"].contains(c));
    let (command, rest) = match command {
        Some("backup") => match args.get(1).filter(|a| !a.starts_with("--")) {
            Some(file) => (Some(("backup", Some(file.clone()))), &args[2..]),
            None => {
                eprintln!("pdu-bridge backup: name the file to write (pdu-bridge backup FILE)");
                return ExitCode::from(2);
            }
        },
        Some(c) => (Some((c, None)), &args[1..]),
        None => (None, &args[..]),
    };
    let config = match settings(rest).and_then(|raw| Config::validate(&raw).map_err(|e| e.to_string())) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("pdu-bridge: {message}");
            return ExitCode::from(2);
        }
    };
    match command {
        Some(("check", _)) => return run_once(check(config)),
        Some(("backup", Some(file))) => return run_once(backup(config, file)),
        _ => {}
    }
    init_logging(config.log_level);

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pdu-bridge: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let listener = match tokio::net::TcpListener::bind(config.web_addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("pdu-bridge: cannot listen on {} (BRIDGE_WEB_BIND/BRIDGE_WEB_PORT): {e}", config.web_addr);
                return ExitCode::FAILURE;
            }
        };
        let shutdown = CancellationToken::new();
        tokio::spawn(shutdown_signal(shutdown.clone()));
        let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let scheme = if config.tls.is_some() { "https" } else { "http" };
        tracing::info!("dashboard on {scheme}://{addr}/");
        if config.demo {
            tracing::info!("demo mode: no PDU_HOST set, polling a simulated PDU44001");
        }
        if !server::web::embedded_site() && config.site_root.is_none() {
            tracing::warn!("this binary was built without the site: the dashboard renders but does not hydrate (run scripts/build-site.sh, then rebuild)");
        }
        match server::serve(&config, listener, shutdown).await {
            Ok(()) => {
                tracing::info!("stopped");
                ExitCode::SUCCESS
            }
            Err(e) => {
                tracing::error!("server failed: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
