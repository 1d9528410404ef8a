//! No secret leaks (issue 12): a whole run of the real binary — sign-ins
//! right and wrong, tokens, users, every page and endpoint, MQTT with
//! accounts, a real SNMP agent with its communities — and then every log
//! line, every answer, every MQTT message and the stores on disk are
//! searched for every secret. The one place a secret may appear is the
//! answer that creates it (a token, shown once).

use crate::util::http_full;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

fn free_tcp() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn free_udp() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

const ADMIN_PW: &str = "adm-S3cret-0a1b2c";
const USER_PW: &str = "usr-S3cret-3d4e5f";
const READ_COMMUNITY: &str = "rd-S3cret-6a7b8c";
const WRITE_COMMUNITY: &str = "wr-S3cret-9d0e1f";
const MQTT_VIEWER_PW: &str = "mqv-S3cret-2a3b4c";
const MQTT_OPERATOR_PW: &str = "mqo-S3cret-5d6e7f";

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_in_any_answer_page_mqtt_message_log_line_or_store() {
    let bin = env!("CARGO_BIN_EXE_pdu-bridge");
    let snmp = free_udp();
    let _agent = Killed(
        Command::new(bin)
            .args(["simulate", "--port", &snmp.to_string()])
            .args(["--read-community", READ_COMMUNITY, "--write-community", WRITE_COMMUNITY])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let data = tempfile::tempdir().unwrap();
    let (web, mqtt) = (free_tcp(), free_tcp());
    let log_path = data.path().join("bridge.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut bridge = Killed(
        Command::new(bin)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PDU_HOST", "127.0.0.1")
            .env("PDU_SNMP_PORT", snmp.to_string())
            .env("PDU_COMMUNITY_READ", READ_COMMUNITY)
            .env("PDU_COMMUNITY_WRITE", WRITE_COMMUNITY)
            .env("BRIDGE_SNMP_TIMEOUT", "0.5")
            .env("BRIDGE_ADMIN_PASSWORD", ADMIN_PW)
            .env("BRIDGE_WEB_PORT", web.to_string())
            .env("MQTT_PORT", mqtt.to_string())
            .env("BRIDGE_MQTT_VIEWER_PASSWORD", MQTT_VIEWER_PW)
            .env("BRIDGE_MQTT_OPERATOR_PASSWORD", MQTT_OPERATOR_PW)
            .env("BRIDGE_DATA_DIR", data.path())
            // The most talkative the bridge gets.
            .env("BRIDGE_LOG_LEVEL", "debug")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let addr: std::net::SocketAddr = format!("127.0.0.1:{web}").parse().unwrap();
    let mut ready = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            ready = true;
            break;
        }
    }
    assert!(ready, "the bridge listens");
    // Let a few polls happen over SNMP with the communities.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut answers = Vec::new();
    let form = "Content-Type: application/x-www-form-urlencoded\r\n".to_owned();
    let origin = format!("Origin: http://{addr}\r\n");
    // Wrong sign-ins, then the right one.
    for (name, pw) in [("admin", USER_PW), ("nobody", ADMIN_PW)] {
        let (_, head, body) = http_full(
            addr,
            "POST",
            "/auth/login",
            Some(&format!("name={name}&password={pw}")),
            &format!("{form}{origin}"),
        )
        .await;
        answers.push(format!("{head}\n{body}"));
    }
    let (code, head, body) = http_full(
        addr,
        "POST",
        "/auth/login",
        Some(&format!("name=admin&password={ADMIN_PW}")),
        &format!("{form}{origin}"),
    )
    .await;
    assert_eq!(code, 303, "{head}{body}");
    let cookie_line = head.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie:")).unwrap();
    let cookie = cookie_line[11..].trim().split(';').next().unwrap().to_owned();
    let session_secret = cookie.split_once('=').unwrap().1.to_owned();
    let as_admin = format!("Cookie: {cookie}\r\n");
    let json = format!("Content-Type: application/json\r\n{as_admin}{origin}");
    // A user and a token (the token's answer is the one that may show it).
    let user = format!(r#"{{"name":"ann","role":"operator","password":"{USER_PW}"}}"#);
    let (code, _, body) = http_full(addr, "POST", "/api/users", Some(&user), &json).await;
    assert_eq!(code, 201, "{body}");
    answers.push(body);
    let (code, _, created) =
        http_full(addr, "POST", "/api/tokens", Some(r#"{"name":"script","role":"operator"}"#), &json).await;
    assert_eq!(code, 201, "{created}");
    let token = serde_json::from_str::<serde_json::Value>(&created).unwrap()["token"].as_str().unwrap().to_owned();
    let token_secret = token.rsplit('_').next().unwrap().to_owned();
    let with_token = format!("Authorization: Bearer {token}\r\nContent-Type: application/json\r\n");
    let (code, _, body) =
        http_full(addr, "POST", "/api/outlets/5/command", Some(r#"{"action":"off"}"#), &with_token).await;
    assert_eq!(code, 200, "{body}");
    answers.push(body);

    // MQTT: the operator account sees everything the bridge publishes.
    let mut options = MqttOptions::new("secrets-test", "127.0.0.1", mqtt);
    options.set_credentials("operator", MQTT_OPERATOR_PW);
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut events) = AsyncClient::new(options, 256);
    client.subscribe("#", QoS::AtMostOnce).await.unwrap();
    let collector = tokio::spawn(async move {
        let mut seen = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(4), async {
            while let Ok(event) = events.poll().await {
                if let Event::Incoming(Packet::Publish(p)) = event {
                    seen.push(format!("{} {}", p.topic, String::from_utf8_lossy(&p.payload)));
                }
            }
        })
        .await;
        seen
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    client.publish("pdu/pdu44001/outlet/5/command", QoS::AtLeastOnce, false, "on").await.unwrap();

    // Every page and read endpoint, as admin.
    for path in [
        "/",
        "/access",
        "/login",
        "/api/status",
        "/api/health",
        "/api/events",
        "/api/rules",
        "/api/users",
        "/api/tokens",
        "/api/sessions?all=true",
        "/api/audit",
        "/api/auth/me",
        "/api/history/banks?range=1h",
        "/api/energy",
        "/api/reports",
        "/api/pdus",
        "/api/pdus/pdu44001",
        "/fleet",
        "/pdu/pdu44001",
        "/settings",
        "/pdu/pdu44001/settings",
    ] {
        let (_, head, body) = http_full(addr, "GET", path, None, &as_admin).await;
        answers.push(format!("{path}\n{head}\n{body}"));
    }
    let messages = collector.await.unwrap();
    assert!(messages.iter().any(|m| m.contains("pdu44001")), "MQTT messages arrived: {}", messages.len());
    let (_, stream_head, _) = http_full(addr, "GET", "/api/health", None, "").await;
    answers.push(stream_head);

    // The shell tool prints a new token once; its list never does.
    let out =
        Command::new(bin).args(["token", "list"]).env_clear().env("BRIDGE_DATA_DIR", data.path()).output().unwrap();
    answers.push(String::from_utf8_lossy(&out.stdout).into_owned());

    // Stop the bridge cleanly, so its last words are in the log too.
    Command::new("kill").args(["-TERM", &bridge.0.id().to_string()]).status().unwrap();
    for _ in 0..100 {
        if bridge.0.try_wait().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut log_text = String::new();
    std::fs::File::open(&log_path).unwrap().read_to_string(&mut log_text).unwrap();
    assert!(log_text.contains("signed in"), "the log saw the run: {log_text}");

    let mut stores = Vec::new();
    for entry in std::fs::read_dir(data.path()).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("auth.db")
            || name.starts_with("history.db")
            || name.ends_with(".json")
            || name.ends_with(".jsonl")
        {
            stores.push((name, String::from_utf8_lossy(&std::fs::read(entry.path()).unwrap()).into_owned()));
        }
    }
    let secrets = [
        ("the admin's password", ADMIN_PW.to_owned()),
        ("a user's password", USER_PW.to_owned()),
        ("the read community", READ_COMMUNITY.to_owned()),
        ("the write community", WRITE_COMMUNITY.to_owned()),
        ("the MQTT viewer password", MQTT_VIEWER_PW.to_owned()),
        ("the MQTT operator password", MQTT_OPERATOR_PW.to_owned()),
        ("the API token's secret", token_secret),
        ("the session cookie", session_secret),
        ("a password hash", "$argon2id$".to_owned()),
    ];
    let places: Vec<(String, &str)> = std::iter::once(("the log".to_owned(), log_text.as_str()))
        .chain(answers.iter().map(|a| (format!("an answer ({})", a.lines().next().unwrap_or_default()), a.as_str())))
        .chain(messages.iter().map(|m| ("an MQTT message".to_owned(), m.as_str())))
        .collect();
    for (what, secret) in &secrets {
        for (place, text) in &places {
            assert!(!text.contains(secret.as_str()), "{what} appears in {place}");
        }
        // On disk, only digests: the hash may be in auth.db, nothing else may.
        for (name, text) in &stores {
            if *what == "a password hash" && name.starts_with("auth.db") {
                continue;
            }
            assert!(!text.contains(secret.as_str()), "{what} is stored in {name}");
        }
    }
}
