//! Reading input one line at a time, as bytes: a line that is not UTF-8 is the
//! caller's to report, not a reason to stop reading.

use std::io::{self, BufRead};

/// Lines of a reader, with their 1-based numbers, reusing one buffer.
pub struct Lines<R> {
    reader: R,
    raw: Vec<u8>,
    number: u64,
}

impl<R: BufRead> Lines<R> {
    /// Lines of `reader`.
    pub fn new(reader: R) -> Lines<R> {
        Lines {
            reader,
            raw: Vec::new(),
            number: 0,
        }
    }

    /// The next line without its `\n` or `\r\n`, and its number; `None` at the end.
    pub fn next_line(&mut self) -> io::Result<Option<(u64, &[u8])>> {
        self.raw.clear();
        if self.reader.read_until(b'\n', &mut self.raw)? == 0 {
            return Ok(None);
        }
        self.number += 1;
        let line = self.raw.strip_suffix(b"\n").unwrap_or(&self.raw);
        Ok(Some((
            self.number,
            line.strip_suffix(b"\r").unwrap_or(line),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_lines_and_strips_their_ends() {
        let mut lines = Lines::new(&b"a\r\n\nb\xff\nlast"[..]);
        let mut seen = Vec::new();
        while let Some((number, line)) = lines.next_line().expect("read from memory") {
            seen.push((number, line.to_vec()));
        }
        assert_eq!(
            seen,
            [
                (1, b"a".to_vec()),
                (2, b"".to_vec()),
                (3, b"b\xff".to_vec()),
                (4, b"last".to_vec())
            ]
        );
    }
}
