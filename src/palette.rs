//! Palettes and colours: a board's list of RGB colours and a [`Color`] index known to be in it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Largest palette: a pixel is stored as one byte.
pub const MAX_PALETTE_LEN: usize = 256;

/// The 32-colour palette of r/place 2022, in its order; index 31 (white) is the blank canvas.
pub const RPLACE_2022: [&str; 32] = [
    "#6D001A", "#BE0039", "#FF4500", "#FFA800", "#FFD635", "#FFF8B8", "#00A368", "#00CC78",
    "#7EED56", "#00756F", "#009EAA", "#00CCC0", "#2450A4", "#3690EA", "#51E9F4", "#493AC1",
    "#6A5CFF", "#94B3FF", "#811E9F", "#B44AC0", "#E4ABFF", "#DE107F", "#FF3881", "#FF99AA",
    "#6D482F", "#9C6926", "#FFB470", "#000000", "#515252", "#898D90", "#D4D7D9", "#FFFFFF",
];

/// One colour, written `#RRGGBB` in settings and JSON, three bytes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Rgb(pub [u8; 3]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaletteError {
    #[error("colour {0:?} is not of the form #RRGGBB")]
    BadColour(String),
    #[error("a palette needs between 2 and {MAX_PALETTE_LEN} colours, not {0}")]
    Length(usize),
}

impl FromStr for Rgb {
    type Err = PaletteError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || PaletteError::BadColour(s.to_owned());
        let hex = s.strip_prefix('#').ok_or_else(bad)?;
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| bad());
        Ok(Rgb([byte(0)?, byte(2)?, byte(4)?]))
    }
}

impl TryFrom<String> for Rgb {
    type Error = PaletteError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Rgb> for String {
    fn from(c: Rgb) -> String {
        c.to_string()
    }
}

impl fmt::Display for Rgb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [r, g, b] = self.0;
        write!(f, "#{r:02X}{g:02X}{b:02X}")
    }
}

/// A board's colours. Pixels store an index into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Palette {
    colours: Vec<Rgb>,
}

impl Palette {
    pub fn new(colours: Vec<Rgb>) -> Result<Self, PaletteError> {
        if !(2..=MAX_PALETTE_LEN).contains(&colours.len()) {
            return Err(PaletteError::Length(colours.len()));
        }
        Ok(Self { colours })
    }

    pub fn rplace_2022() -> Self {
        let colours = RPLACE_2022
            .iter()
            .map(|s| s.parse().expect("the built-in palette is well-formed"))
            .collect();
        Self { colours }
    }

    pub fn colours(&self) -> &[Rgb] {
        &self.colours
    }

    pub fn len(&self) -> usize {
        self.colours.len()
    }

    pub fn is_empty(&self) -> bool {
        self.colours.is_empty()
    }

    /// The colour at `index`, if the palette has one.
    pub fn color(&self, index: u8) -> Option<Color> {
        (usize::from(index) < self.colours.len()).then_some(Color(index))
    }
}

/// A palette index known to be valid for its board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Color(u8);

impl Color {
    pub fn index(self) -> u8 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_parse_and_print_as_hex() {
        let c: Rgb = "#ff4500".parse().unwrap();
        assert_eq!(c, Rgb([0xFF, 0x45, 0x00]));
        assert_eq!(c.to_string(), "#FF4500");
        assert!("ff4500".parse::<Rgb>().is_err());
        assert!("#ff45".parse::<Rgb>().is_err());
        assert!("#gg4500".parse::<Rgb>().is_err());
    }

    #[test]
    fn color_indices_are_checked_against_the_palette() {
        let p = Palette::rplace_2022();
        assert_eq!(p.len(), 32);
        assert!(p.color(31).is_some());
        assert!(p.color(32).is_none());
    }
}
