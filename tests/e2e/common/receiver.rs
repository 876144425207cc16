//! A webhook receiver for tests: a tiny HTTP server on 127.0.0.1 that
//! records every POST and answers 200, or 500 while told to fail.
//! (Also used by `examples/live_bench.rs`.)

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::Value;

/// One POST received.
#[derive(Debug, Clone)]
pub struct Post {
    /// The `Idempotency-Key` header.
    pub key: String,
    /// The JSON body.
    pub body: Value,
    /// Whether it was answered 2xx.
    pub accepted: bool,
    /// When it arrived.
    pub at: Instant,
}

/// A running receiver.
pub struct Receiver {
    /// `http://127.0.0.1:<port>/hook`.
    pub url: String,
    posts: Arc<Mutex<Vec<Post>>>,
    failing: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl Receiver {
    /// Starts a receiver that accepts everything.
    pub fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let posts = Arc::new(Mutex::new(Vec::new()));
        let failing = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, f, s) = (posts.clone(), failing.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (p, f) = (p.clone(), f.clone());
                        std::thread::spawn(move || serve(stream, &p, &f));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Receiver {
            url,
            posts,
            failing,
            stop,
        }
    }

    /// Answer 500 (true) or 200 (false) from now on.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// Every POST so far.
    pub fn posts(&self) -> Vec<Post> {
        self.posts.lock().clone()
    }

    /// User ids of the accepted punches, in the order delivered.
    pub fn accepted_users(&self) -> Vec<String> {
        self.accepted_field("user_id")
    }

    /// One text field (`user_id`, `timestamp`…) of every accepted punch,
    /// in the order delivered.
    pub fn accepted_field(&self, field: &str) -> Vec<String> {
        self.posts()
            .iter()
            .filter(|p| p.accepted)
            .flat_map(|p| {
                p.body["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r[field].as_str().unwrap().to_string())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Waits until `done(posts)` holds, at most `max`.
    pub fn wait_for(&self, max: Duration, done: impl Fn(&[Post]) -> bool) -> bool {
        let until = Instant::now() + max;
        while Instant::now() < until {
            if done(&self.posts()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        done(&self.posts())
    }
}

fn serve(mut stream: TcpStream, posts: &Mutex<Vec<Post>>, failing: &AtomicBool) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match stream.read(&mut tmp) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        let header = |name: &str| {
            head.lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim()
                        .eq_ignore_ascii_case(name)
                        .then(|| v.trim().to_string())
                })
                .unwrap_or_default()
        };
        let len: usize = header("content-length").parse().unwrap_or(0);
        while buf.len() < end + 4 + len {
            match stream.read(&mut tmp) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        }
        let body: Value =
            serde_json::from_slice(&buf[end + 4..end + 4 + len]).unwrap_or(Value::Null);
        buf.drain(..end + 4 + len);
        let accepted = !failing.load(Ordering::SeqCst);
        posts.lock().push(Post {
            key: header("idempotency-key"),
            body,
            accepted,
            at: Instant::now(),
        });
        let status = if accepted {
            "200 OK"
        } else {
            "500 Internal Server Error"
        };
        let _ = stream.write_all(
            format!("HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                .as_bytes(),
        );
        return;
    }
}
