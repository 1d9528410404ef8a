//! A small SMTP server for the notification tests: enough of RFC 5321 for
//! lettre (greeting, EHLO/HELO, AUTH PLAIN and LOGIN, MAIL, RCPT, DATA with
//! dot-unstuffing, RSET, NOOP, QUIT) on 127.0.0.1, no TLS. It records every
//! session's sign-in and every mail, and answers the end of DATA from a
//! script (e.g. 451 once, then 250).

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A sign-in as the sink received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignIn {
    pub mechanism: String,
    pub username: String,
    pub password: String,
}

/// A mail the sink accepted.
#[derive(Clone, Debug)]
pub struct Mail {
    pub sign_in: Option<SignIn>,
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body, CRLF line ends, unstuffed.
    pub data: String,
}

impl Mail {
    /// The value of header `name` (unfolded), if present.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(v) = value.as_mut() {
                    v.push_str(line.trim_start());
                }
                continue;
            }
            if value.is_some() {
                break;
            }
            if let Some((key, rest)) = line.split_once(':') {
                if key.eq_ignore_ascii_case(name) {
                    value = Some(rest.trim().to_owned());
                }
            }
        }
        value
    }

    pub fn body(&self) -> String {
        self.data.split_once("\r\n\r\n").map(|(_, body)| body.replace("\r\n", "\n")).unwrap_or_default()
    }
}

#[derive(Default)]
struct State {
    /// Replies to the end of DATA, in turn; 250 when empty.
    data_replies: VecDeque<u16>,
    mails: Vec<Mail>,
    sessions: usize,
    sign_ins: Vec<SignIn>,
}

pub struct SmtpSink {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpSink {
    /// Listen on 127.0.0.1:0. `auth`: the mechanisms to offer in EHLO
    /// ("PLAIN LOGIN", "LOGIN", or "" for none). `data_replies`: the codes
    /// for the first mails' end of DATA, then 250.
    pub async fn start(auth: &str, data_replies: &[u16]) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state =
            Arc::new(Mutex::new(State { data_replies: data_replies.iter().copied().collect(), ..State::default() }));
        let (auth, shared) = (auth.to_owned(), state.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                shared.lock().unwrap().sessions += 1;
                tokio::spawn(session(stream, auth.clone(), shared.clone()));
            }
        });
        SmtpSink { addr, state, task }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.state.lock().unwrap().mails.clone()
    }

    /// Connections accepted so far.
    pub fn sessions(&self) -> usize {
        self.state.lock().unwrap().sessions
    }

    pub fn sign_ins(&self) -> Vec<SignIn> {
        self.state.lock().unwrap().sign_ins.clone()
    }
}

async fn session(stream: TcpStream, auth: String, state: Arc<Mutex<State>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    macro_rules! say {
        ($($arg:tt)*) => {
            if write.write_all(format!($($arg)*).as_bytes()).await.is_err() { return; }
        };
    }
    let mut line = String::new();
    macro_rules! read_line {
        () => {{
            line.clear();
            match lines.read_line(&mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => line.trim_end_matches(['\r', '\n']).to_owned(),
            }
        }};
    }
    say!("220 sink.test ESMTP ready\r\n");
    let (mut sign_in, mut from, mut to) = (None::<SignIn>, String::new(), Vec::<String>::new());
    loop {
        let command = read_line!();
        let (verb, rest) = command.split_once(' ').unwrap_or((&command, ""));
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                if auth.is_empty() {
                    say!("250-sink.test\r\n250 8BITMIME\r\n");
                } else {
                    say!("250-sink.test\r\n250-AUTH {auth}\r\n250 8BITMIME\r\n");
                }
            }
            "HELO" => say!("250 sink.test\r\n"),
            "AUTH" => {
                let (mechanism, initial) = rest.split_once(' ').unwrap_or((rest, ""));
                let mechanism = mechanism.to_ascii_uppercase();
                let credentials = match mechanism.as_str() {
                    "PLAIN" => {
                        let encoded = if initial.is_empty() {
                            say!("334 \r\n");
                            read_line!()
                        } else {
                            initial.to_owned()
                        };
                        let decoded = String::from_utf8(base64_decode(&encoded)).unwrap_or_default();
                        let mut parts = decoded.split('\0').skip(1);
                        (parts.next().unwrap_or_default().to_owned(), parts.next().unwrap_or_default().to_owned())
                    }
                    "LOGIN" => {
                        let username = if initial.is_empty() {
                            say!("334 VXNlcm5hbWU6\r\n");
                            read_line!()
                        } else {
                            initial.to_owned()
                        };
                        say!("334 UGFzc3dvcmQ6\r\n");
                        let password = read_line!();
                        (
                            String::from_utf8(base64_decode(&username)).unwrap_or_default(),
                            String::from_utf8(base64_decode(&password)).unwrap_or_default(),
                        )
                    }
                    _ => {
                        say!("504 5.5.4 mechanism not supported\r\n");
                        continue;
                    }
                };
                let signed = SignIn { mechanism, username: credentials.0, password: credentials.1 };
                state.lock().unwrap().sign_ins.push(signed.clone());
                sign_in = Some(signed);
                say!("235 2.7.0 authenticated\r\n");
            }
            "MAIL" => {
                from = angle(rest);
                to.clear();
                say!("250 2.1.0 ok\r\n");
            }
            "RCPT" => {
                to.push(angle(rest));
                say!("250 2.1.5 ok\r\n");
            }
            "DATA" => {
                say!("354 end with <CRLF>.<CRLF>\r\n");
                let mut data = String::new();
                loop {
                    let text = read_line!();
                    if text == "." {
                        break;
                    }
                    data.push_str(text.strip_prefix('.').filter(|_| text.starts_with("..")).unwrap_or(&text));
                    data.push_str("\r\n");
                }
                let code = state.lock().unwrap().data_replies.pop_front().unwrap_or(250);
                if code == 250 {
                    let mail = Mail { sign_in: sign_in.clone(), from: from.clone(), to: to.clone(), data };
                    state.lock().unwrap().mails.push(mail);
                    say!("250 2.0.0 queued\r\n");
                } else if code < 500 {
                    say!("{code} 4.3.0 try again later\r\n");
                } else {
                    say!("{code} 5.7.1 refused for good\r\n");
                }
            }
            "RSET" | "NOOP" => say!("250 2.0.0 ok\r\n"),
            "QUIT" => {
                say!("221 2.0.0 bye\r\n");
                return;
            }
            _ => say!("502 5.5.2 command not recognised\r\n"),
        }
    }
}

/// The address between `<` and `>` in `FROM:<a@b> SIZE=…`.
fn angle(text: &str) -> String {
    text.split_once('<').and_then(|(_, r)| r.split_once('>')).map(|(a, _)| a.to_owned()).unwrap_or_default()
}

/// Standard base64 (with or without padding); bad characters are skipped.
pub fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0);
    for byte in text.bytes() {
        let Some(value) = ALPHABET.iter().position(|a| *a == byte) else { continue };
        acc = (acc << 6) | value as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}
