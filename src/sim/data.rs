//! Deterministic, realistic terminal contents generated from a seed.

use crate::zk::records::{Attendance, Template, User};
use crate::zk::ZkTime;

/// A tiny xorshift generator: deterministic across platforms, no dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeds the generator (0 is remapped, xorshift needs a non-zero state).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform-ish value in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

const FIRST: &[&str] = &[
    "Ana", "Luis", "Carmen", "José", "María", "Jorge", "Lucía", "Pedro", "Sofía", "Diego", "Elena",
    "Raúl", "Marta", "Iván", "Paula", "Hugo", "Rosa", "Óscar", "Noemí", "Tomás",
];
const LAST: &[&str] = &[
    "García",
    "López",
    "Martínez",
    "Sánchez",
    "Pérez",
    "Gómez",
    "Ruiz",
    "Díaz",
    "Moreno",
    "Muñoz",
    "Álvarez",
    "Romero",
    "Navarro",
    "Torres",
    "Ramírez",
    "Castro",
];

/// `count` users with uids 1.., numeric PINs starting at 1001 and full
/// Spanish names (UTF-8, at most 16 bytes: the 72-byte layout's 24-byte field
/// holds them whole; the 28-byte layout's 8-byte one cuts them).
///
/// Who a user is depends only on their position, never on a terminal's
/// seed: user 1005 has the same name and card on every simulated terminal,
/// as one person enrolled on several real ones has.
pub fn users(count: usize) -> Vec<User> {
    (0..count)
        .map(|i| {
            let mut rng = Rng::new(0x5555 + i as u64);
            User {
                uid: (i + 1) as u16,
                privilege: if i == 0 { 14 } else { 0 },
                password: Vec::new(),
                name: full_name(i).into_bytes(),
                card: if rng.below(3) == 0 {
                    10_000_000 + rng.below(9_000_000) as u32
                } else {
                    0
                },
                group: 1,
                user_id: (1001 + i).to_string(),
            }
        })
        .collect()
}

/// The `i`-th person's name: all 320 first/last name pairs are distinct
/// for `i` below 320 (for each first name, `k` -> `(k + 5f) % 16` is a
/// permutation of the last names).
fn full_name(i: usize) -> String {
    let f = i % FIRST.len();
    let k = i / FIRST.len();
    format!("{} {}", FIRST[f], LAST[(k + 5 * f) % LAST.len()])
}

/// `count` punches by `users`, in device (chronological) order from `start`:
/// every day each user checks in around 08:00 and out around 17:00.
pub fn punches(
    count: usize,
    users: &[User],
    seed: u64,
    start: chrono::NaiveDate,
) -> Vec<Attendance> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(count);
    if users.is_empty() {
        return out;
    }
    let mut day = start;
    while out.len() < count {
        for (shift_hour, punch) in [(8u32, 0u8), (17, 1)] {
            let mut shift: Vec<(u32, &User, u8)> = users
                .iter()
                .map(|u| {
                    let secs = shift_hour * 3600 + rng.below(3600) as u32 - 1800;
                    let verify = [1u8, 1, 1, 15, 4][rng.below(5) as usize];
                    (secs, u, verify)
                })
                .collect();
            shift.sort_by_key(|s| s.0);
            for (secs, u, verify) in shift {
                if out.len() == count {
                    return out;
                }
                let t = day
                    .and_hms_opt(secs / 3600, secs / 60 % 60, secs % 60)
                    .unwrap_or_default();
                out.push(Attendance {
                    uid: u.uid,
                    user_id: u.user_id.clone(),
                    time: ZkTime::from_naive(&t),
                    status: verify,
                    punch,
                });
            }
        }
        day = day.succ_opt().unwrap_or(day);
    }
    out
}

/// Fingerprint templates: most users have their right index finger (1)
/// enrolled, every other one also the left index (6); every fourth has none.
/// Their bytes are shaped as the algorithm `version` makes them
/// (templates-protocol.md §5.1), deterministic for a seed.
pub fn templates(users: &[User], seed: u64, version: u16) -> Vec<Template> {
    let mut rng = Rng::new(seed ^ 0x7777);
    let mut out = Vec::new();
    for u in users.iter().filter(|u| u.uid % 4 != 0) {
        for finger in [1u8, 6]
            .into_iter()
            .take(if u.uid % 2 == 0 { 2 } else { 1 })
        {
            out.push(Template {
                uid: u.uid,
                finger,
                valid: 1,
                data: template_bytes(&mut rng, version),
            });
        }
    }
    out
}

/// Synthetic template bytes (never a real person's): ZKFinger 10 — two
/// random bytes, `SS21\0\0\x04`, two random bytes, `04 08 05 07 09 CE D0`,
/// random bytes to 800…1500 in all; ZKFinger 9 — `A1 CA` and random bytes
/// to 300…600.
pub fn template_bytes(rng: &mut Rng, version: u16) -> Vec<u8> {
    let (mut data, len) = if version == 9 {
        (vec![0xA1, 0xCA], 300 + rng.below(301) as usize)
    } else {
        let mut head = vec![rng.below(256) as u8, rng.below(256) as u8];
        head.extend_from_slice(&[0x53, 0x53, 0x32, 0x31, 0x00, 0x00, 0x04]);
        head.extend_from_slice(&[rng.below(256) as u8, rng.below(256) as u8]);
        head.extend_from_slice(&[0x04, 0x08, 0x05, 0x07, 0x09, 0xCE, 0xD0]);
        (head, 800 + rng.below(701) as usize)
    };
    while data.len() < len {
        data.push(rng.below(256) as u8);
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_exact() {
        let u = users(20);
        assert_eq!(u, users(20));
        let day = chrono::NaiveDate::from_ymd_opt(2025, 1, 2).unwrap();
        let p = punches(1001, &u, 7, day);
        assert_eq!(p.len(), 1001);
        assert_eq!(p, punches(1001, &u, 7, day));
        assert!(p.iter().all(|a| a.time.is_valid()));
        assert!(p.windows(2).all(|w| w[0].time <= w[1].time));
        assert_ne!(p, punches(1001, &u, 8, day));
    }

    #[test]
    fn names_are_full_distinct_and_fit_the_72_byte_layout() {
        let u = users(320);
        let names: std::collections::HashSet<_> = u.iter().map(|u| u.name.clone()).collect();
        assert_eq!(names.len(), 320);
        assert!(u
            .iter()
            .all(|u| u.name.len() <= 24 && u.name.contains(&b' ')));
        assert!(u.iter().any(|u| u.name.len() > 8));
        // A person is the same whatever the terminal holds besides.
        assert_eq!(users(12)[..], users(25)[..12]);
    }

    #[test]
    fn templates_are_shaped_as_their_algorithm_makes_them() {
        let u = users(40);
        let v10 = templates(&u, 3, 10);
        assert_eq!(v10, templates(&u, 3, 10), "deterministic");
        assert!(v10.iter().all(|t| {
            t.data.get(2..9) == Some(&[0x53, 0x53, 0x32, 0x31, 0, 0, 4][..])
                && t.data.get(11..18) == Some(&[4, 8, 5, 7, 9, 0xCE, 0xD0][..])
                && (800..=1500).contains(&t.data.len())
        }));
        let v9 = templates(&u, 3, 9);
        assert!(v9
            .iter()
            .all(|t| t.data.starts_with(&[0xA1, 0xCA]) && (300..=602).contains(&t.data.len())));
    }
}
