//! The board manifest, `manifest.json`: which geometry is stored and in which layout directory.
//!
//! The manifest is the commit point of the store. It is only ever replaced atomically and after
//! the layout directory it names is complete, so whatever it names can be trusted.

use std::fs;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::atomic::replace_file_durably;
use super::layout::layout_dir_name;
use super::{Corruption, StorageError};
use crate::geometry::BoardGeometry;

/// Manifest format version this build reads and writes.
pub const MANIFEST_FORMAT: u32 = 1;

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
    /// Name of the layout directory, always `layout_dir_name(geometry)`.
    pub layout: String,
}

impl Manifest {
    pub fn for_geometry(geometry: BoardGeometry) -> Self {
        Self {
            geometry,
            layout: layout_dir_name(geometry),
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
        if probe.format != MANIFEST_FORMAT {
            return Err(corrupt(Corruption::UnsupportedFormat {
                found: probe.format,
                supported: MANIFEST_FORMAT,
            }));
        }
        let json: ManifestJson =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(Corruption::ManifestJson(e)))?;
        let geometry = BoardGeometry::new(json.width, json.height, json.tile_size)
            .map_err(|e| corrupt(Corruption::ManifestGeometry(e)))?;
        // The layout name is derived, never free: a name like `../other` must not steer IO.
        let expected = layout_dir_name(geometry);
        if json.layout != expected {
            return Err(corrupt(Corruption::ManifestLayout {
                found: json.layout,
                expected,
            }));
        }
        Ok(Some(Self {
            geometry,
            layout: json.layout,
        }))
    }

    /// Atomically and durably replaces the manifest at `path` with this one.
    pub fn write(&self, path: &Path) -> Result<(), StorageError> {
        let json = ManifestJson {
            format: MANIFEST_FORMAT,
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
        assert!(text.contains("\"layout\": \"w300-h200-t64\""), "{text}");

        type Check = fn(&Corruption) -> bool;
        let cases: [(&str, Check); 5] = [
            ("{not json", |r| matches!(r, Corruption::ManifestJson(_))),
            (r#"{"format":2}"#, |r| {
                matches!(r, Corruption::UnsupportedFormat { found: 2, .. })
            }),
            (
                r#"{"format":1,"width":300,"height":200,"tile_size":48,"layout":"w300-h200-t48"}"#,
                |r| matches!(r, Corruption::ManifestGeometry(_)),
            ),
            (
                r#"{"format":1,"width":300,"height":200,"tile_size":64,"layout":"../x"}"#,
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
