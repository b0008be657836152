//! The board manifest, `manifest.json`: which geometry is stored and in which layout directory.
//!
//! The manifest is the commit point of the store. It is only ever replaced atomically and after
//! the layout directory it names is complete, so whatever it names can be trusted.

use std::fs;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::atomic::replace_file_durably;
use super::layout::{LayoutKind, layout_dir_name};
use super::{Corruption, StorageError};
use crate::geometry::BoardGeometry;

/// Manifest format this build writes: 2, tiles in region files. It also reads 1, one file per
/// tile, which `load` converts.
pub const MANIFEST_FORMAT: u32 = 2;
const TILES_FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestJson {
    format: u32,
    width: u32,
    height: u32,
    tile_size: u32,
    layout: String,
}

/// Read first, so a manifest from a newer build is reported as an unsupported version rather
/// than as a JSON error about fields this build does not know.
#[derive(Deserialize)]
struct FormatProbe {
    format: u32,
}

/// A validated manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub geometry: BoardGeometry,
    /// How the layout directory stores tiles: the manifest's format.
    pub kind: LayoutKind,
    /// Name of the layout directory, always `layout_dir_name(geometry, kind)`.
    pub layout: String,
}

impl Manifest {
    pub fn for_geometry(geometry: BoardGeometry) -> Self {
        Self {
            geometry,
            kind: LayoutKind::Regions,
            layout: layout_dir_name(geometry, LayoutKind::Regions),
        }
    }

    /// Reads and validates the manifest at `path`; `None` if there is none.
    pub fn read(path: &Path) -> Result<Option<Self>, StorageError> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StorageError::Io {
                    path: path.to_owned(),
                    action: "read",
                    source,
                });
            }
        };
        let corrupt = |reason| StorageError::Corrupt {
            path: path.to_owned(),
            reason,
        };
        let probe: FormatProbe =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(Corruption::ManifestJson(e)))?;
        let kind = match probe.format {
            MANIFEST_FORMAT => LayoutKind::Regions,
            TILES_FORMAT => LayoutKind::Tiles,
            found => {
                return Err(corrupt(Corruption::UnsupportedFormat {
                    found,
                    supported: MANIFEST_FORMAT,
                }));
            }
        };
        let json: ManifestJson =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(Corruption::ManifestJson(e)))?;
        let geometry = BoardGeometry::new(json.width, json.height, json.tile_size)
            .map_err(|e| corrupt(Corruption::ManifestGeometry(e)))?;
        // The layout name is derived, never free: a name like `../other` must not steer IO.
        let expected = layout_dir_name(geometry, kind);
        if json.layout != expected {
            return Err(corrupt(Corruption::ManifestLayout {
                found: json.layout,
                expected,
            }));
        }
        Ok(Some(Self {
            geometry,
            kind,
            layout: json.layout,
        }))
    }

    /// Atomically and durably replaces the manifest at `path` with this one.
    pub fn write(&self, path: &Path) -> Result<(), StorageError> {
        let format = match self.kind {
            LayoutKind::Regions => MANIFEST_FORMAT,
            LayoutKind::Tiles => TILES_FORMAT,
        };
        let json = ManifestJson {
            format,
            width: self.geometry.width(),
            height: self.geometry.height(),
            tile_size: self.geometry.tile_size(),
            layout: self.layout.clone(),
        };
        let mut bytes = serde_json::to_vec_pretty(&json)
            .expect("a struct of integers and a string always serialises");
        bytes.push(b'\n');
        replace_file_durably(path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_validation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("manifest.json");
        assert_eq!(Manifest::read(&path).expect("missing is fine"), None);

        let m = Manifest::for_geometry(BoardGeometry::new(300, 200, 64).expect("geometry"));
        m.write(&path).expect("write");
        assert_eq!(Manifest::read(&path).expect("read"), Some(m));
        let text = fs::read_to_string(&path).expect("read text");
        assert!(text.contains("\"layout\": \"w300-h200-t64-r16\""), "{text}");
        assert!(text.contains("\"format\": 2"), "{text}");

        // The older format, one file per tile, is still read.
        let old =
            r#"{"format":1,"width":300,"height":200,"tile_size":64,"layout":"w300-h200-t64"}"#;
        fs::write(&path, old).expect("plant");
        let read = Manifest::read(&path).expect("read").expect("present");
        assert_eq!(
            (read.kind, read.layout.as_str()),
            (LayoutKind::Tiles, "w300-h200-t64")
        );

        type Check = fn(&Corruption) -> bool;
        let cases: [(&str, Check); 6] = [
            ("{not json", |r| matches!(r, Corruption::ManifestJson(_))),
            (r#"{"format":3}"#, |r| {
                matches!(r, Corruption::UnsupportedFormat { found: 3, .. })
            }),
            (
                r#"{"format":1,"width":300,"height":200,"tile_size":48,"layout":"w300-h200-t48"}"#,
                |r| matches!(r, Corruption::ManifestGeometry(_)),
            ),
            (
                r#"{"format":1,"width":300,"height":200,"tile_size":64,"layout":"../x"}"#,
                |r| matches!(r, Corruption::ManifestLayout { .. }),
            ),
            (
                r#"{"format":2,"width":300,"height":200,"tile_size":64,"layout":"w300-h200-t64"}"#,
                |r| matches!(r, Corruption::ManifestLayout { .. }),
            ),
            (r#"{"format":1,"width":300}"#, |r| {
                matches!(r, Corruption::ManifestJson(_))
            }),
        ];
        for (text, check) in cases {
            fs::write(&path, text).expect("plant");
            match Manifest::read(&path) {
                Err(StorageError::Corrupt { path: p, reason }) => {
                    assert_eq!(p, path);
                    assert!(check(&reason), "{text}: {reason}");
                }
                other => panic!("{text}: expected corruption, got {other:?}"),
            }
        }
    }
}
