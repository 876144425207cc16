//! Warnings that one request can repeat many times (a `devicecmd` body
//! with a million unknown ids): the first few are logged in detail, the
//! rest as one line with their count when the request is done.

/// Warnings logged in detail per kind and request.
pub const DETAILED: usize = 5;

/// One kind of repeated warning of one request from terminal `sn`.
pub struct Repeats<'a> {
    sn: &'a str,
    what: &'static str,
    count: usize,
}

impl<'a> Repeats<'a> {
    /// Counts warnings about `what` (plural, for the summary) from `sn`.
    pub fn new(sn: &'a str, what: &'static str) -> Repeats<'a> {
        Repeats { sn, what, count: 0 }
    }

    /// One more warning; `detail` is only built for the first few.
    pub fn warn(&mut self, detail: impl FnOnce() -> String) {
        self.count += 1;
        if self.count <= DETAILED {
            let detail = detail();
            log::warn!("push {}: {detail}", self.sn);
        }
    }
}

impl Drop for Repeats<'_> {
    fn drop(&mut self) {
        if self.count > DETAILED {
            log::warn!(
                "push {}: {} more {} (not logged one by one)",
                self.sn,
                self.count - DETAILED,
                self.what
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_are_built_only_for_the_first_few() {
        let mut built = 0;
        let mut r = Repeats::new("SN1", "unknown ids");
        for _ in 0..1000 {
            r.warn(|| {
                built += 1;
                "x".into()
            });
        }
        assert_eq!((r.count, built), (1000, DETAILED));
    }
}
