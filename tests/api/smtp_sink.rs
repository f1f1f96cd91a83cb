//! A small SMTP server for the tests and the benchmark: it speaks enough SMTP for lettre
//! (EHLO/HELO, MAIL FROM, RCPT TO, DATA with dot-unstuffing, RSET, NOOP, QUIT), keeps every
//! message's envelope and raw bytes, and can be stopped and started again on the same port to
//! play a mail server that goes down and comes back.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One message as it arrived.
#[derive(Clone, Debug)]
pub struct Received {
    /// The envelope sender.
    pub mail_from: String,
    /// The envelope recipients.
    pub rcpt_to: Vec<String>,
    /// The message exactly as sent, after dot-unstuffing, with CRLF line ends.
    pub data: Vec<u8>,
}

impl Received {
    /// The value of the first header with this name (unfolded), if any.
    pub fn header(&self, name: &str) -> Option<String> {
        let text = String::from_utf8_lossy(&self.data);
        let head = text.split("\r\n\r\n").next().unwrap_or_default();
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.split("\r\n").find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

#[derive(Default)]
struct Behaviour {
    /// Recipients refused at RCPT TO with this reply (e.g. `550 no such mailbox`).
    refuse: HashMap<String, String>,
    /// A pause before accepting each message's data, to keep messages in flight.
    data_delay: Duration,
}

#[derive(Default)]
struct Shared {
    messages: Mutex<Vec<Received>>,
    behaviour: Mutex<Behaviour>,
    connections: Mutex<usize>,
}

struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// The SMTP sink. Dropping it stops it.
pub struct SmtpSink {
    port: u16,
    shared: Arc<Shared>,
    running: Mutex<Option<Running>>,
}

impl SmtpSink {
    /// Starts on a free port of 127.0.0.1.
    pub async fn start() -> SmtpSink {
        let shared = Arc::new(Shared::default());
        let (port, running) = listen(shared.clone(), 0).await;
        SmtpSink {
            port,
            shared,
            running: Mutex::new(Some(running)),
        }
    }

    /// The port it listens on (the same across stop and restart).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `smtp://127.0.0.1:PORT`, for `SMTP_URL`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Stops listening and drops every open connection, as a crashed mail server would.
    pub async fn stop(&self) {
        let running = self.running.lock().unwrap().take();
        if let Some(r) = running {
            let _ = r.stop.send(true);
            let _ = r.task.await;
        }
    }

    /// Listens again on the same port.
    pub async fn restart(&self) {
        self.stop().await;
        let (_, running) = listen(self.shared.clone(), self.port).await;
        *self.running.lock().unwrap() = Some(running);
    }

    /// Refuses a recipient at RCPT TO with `reply` (such as `550 5.1.1 no such mailbox`).
    pub fn refuse(&self, recipient: &str, reply: &str) {
        self.shared
            .behaviour
            .lock()
            .unwrap()
            .refuse
            .insert(recipient.to_lowercase(), reply.to_string());
    }

    /// Accepts every recipient again.
    pub fn accept_all(&self) {
        self.shared.behaviour.lock().unwrap().refuse.clear();
    }

    /// Waits this long before accepting each message.
    pub fn set_data_delay(&self, delay: Duration) {
        self.shared.behaviour.lock().unwrap().data_delay = delay;
    }

    /// Every message received so far.
    pub fn messages(&self) -> Vec<Received> {
        self.shared.messages.lock().unwrap().clone()
    }

    /// How many messages have arrived.
    pub fn count(&self) -> usize {
        self.shared.messages.lock().unwrap().len()
    }

    /// Waits until at least `n` messages have arrived; panics after `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            if start.elapsed() > timeout {
                panic!(
                    "expected {n} emails at the SMTP sink within {timeout:?}, got {}",
                    got.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits `quiet` and checks that no more than `n` messages arrived in all.
    pub async fn expect_no_more_than(&self, n: usize, quiet: Duration) -> Vec<Received> {
        tokio::time::sleep(quiet).await;
        let got = self.messages();
        assert!(
            got.len() <= n,
            "expected at most {n} emails, got {}",
            got.len()
        );
        got
    }
}

async fn listen(shared: Arc<Shared>, port: u16) -> (u16, Running) {
    {
        let socket = TcpSocket::new_v4().expect("socket");
        // Restarting on the same port must not wait for old connections to time out.
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        let mut tries = 0;
        loop {
            match socket.bind(([127, 0, 0, 1], port).into()) {
                Ok(()) => break,
                Err(e) if tries < 50 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("the SMTP sink cannot listen on port {port}: {e}"),
            }
        }
        let listener = socket.listen(128).expect("listen");
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut connections = Vec::new();
            let mut stopped_accept = stopped.clone();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let shared = shared.clone();
                        let mut stopped = stopped.clone();
                        connections.push(tokio::spawn(async move {
                            tokio::select! {
                                _ = serve(stream, shared) => {}
                                _ = stopped.changed() => {}
                            }
                        }));
                    }
                    _ = stopped_accept.changed() => break,
                }
            }
            drop(listener);
            for c in connections {
                c.abort();
                let _ = c.await;
            }
        });
        (port, Running { stop, task })
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(r) = self.running.lock().unwrap().take() {
            let _ = r.stop.send(true);
            r.task.abort();
        }
    }
}

/// `<a@b>` -> `a@b` from `MAIL FROM:<a@b> SIZE=10`.
fn address(arg: &str) -> String {
    let arg = arg.trim();
    match (arg.find('<'), arg.find('>')) {
        (Some(a), Some(b)) if b > a => arg[a + 1..b].to_string(),
        _ => arg
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

async fn serve(stream: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    *shared.connections.lock().unwrap() += 1;
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    write.write_all(b"220 smtp-sink ESMTP ready\r\n").await?;
    let mut mail_from: Option<String> = None;
    let mut rcpt_to: Vec<String> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        let (verb, arg) = match text.split_once(' ') {
            Some((v, a)) => (v.to_ascii_uppercase(), a.to_string()),
            None => (text.to_ascii_uppercase(), String::new()),
        };
        let reply: String = match verb.as_str() {
            "EHLO" => "250-smtp-sink\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 10485760".into(),
            "HELO" => "250 smtp-sink".into(),
            "MAIL" => {
                mail_from = Some(address(
                    arg.split_once(':').map(|x| x.1).unwrap_or_default(),
                ));
                rcpt_to.clear();
                "250 2.1.0 OK".into()
            }
            "RCPT" => {
                let to = address(arg.split_once(':').map(|x| x.1).unwrap_or_default());
                let refused = shared
                    .behaviour
                    .lock()
                    .unwrap()
                    .refuse
                    .get(&to.to_lowercase())
                    .cloned();
                match (refused, &mail_from) {
                    (_, None) => "503 5.5.1 MAIL first".into(),
                    (Some(reply), _) => reply,
                    (None, Some(_)) => {
                        rcpt_to.push(to);
                        "250 2.1.5 OK".into()
                    }
                }
            }
            "DATA" => {
                if mail_from.is_none() || rcpt_to.is_empty() {
                    "503 5.5.1 RCPT first".into()
                } else {
                    write
                        .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                        .await?;
                    let mut data = Vec::new();
                    loop {
                        line.clear();
                        if reader.read_until(b'\n', &mut line).await? == 0 {
                            return Ok(());
                        }
                        if line == b".\r\n" || line == b".\n" {
                            break;
                        }
                        // Dot-unstuffing: a line the client started with an extra dot.
                        if line.starts_with(b".") {
                            data.extend_from_slice(&line[1..]);
                        } else {
                            data.extend_from_slice(&line);
                        }
                    }
                    let delay = shared.behaviour.lock().unwrap().data_delay;
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    let n = {
                        let mut messages = shared.messages.lock().unwrap();
                        messages.push(Received {
                            mail_from: mail_from.take().unwrap_or_default(),
                            rcpt_to: std::mem::take(&mut rcpt_to),
                            data,
                        });
                        messages.len()
                    };
                    format!("250 2.0.0 OK queued as {n}")
                }
            }
            "RSET" => {
                mail_from = None;
                rcpt_to.clear();
                "250 2.0.0 OK".into()
            }
            "NOOP" => "250 2.0.0 OK".into(),
            "QUIT" => {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => "502 5.5.2 command not recognised".into(),
        };
        // One write per reply: split writes meet the client's delayed ACK (Nagle) and add
        // 40 ms to every command.
        write.write_all(format!("{reply}\r\n").as_bytes()).await?;
    }
}
