//! Embeds the shipped models (`models/<lang>/onrust.model`) into the binary, so that
//! `onrust` scores from any directory and in a container. A language folder without a
//! model file is skipped; `onrust` then needs `--model`.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

fn main() {
    let root =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let models = root.join("models");
    println!("cargo:rerun-if-changed={}", models.display());
    let mut languages: Vec<(String, PathBuf)> = Vec::new();
    if let Ok(entries) = fs::read_dir(&models) {
        for entry in entries.flatten() {
            let file = entry.path().join("onrust.model");
            println!("cargo:rerun-if-changed={}", file.display());
            let name = entry.file_name().to_string_lossy().to_string();
            if file.is_file() && name.len() == 2 {
                languages.push((name, file));
            }
        }
    }
    languages.sort();
    let mut code = String::from("/// Models compiled into the binary: (language code, model file bytes).\npub const EMBEDDED_MODELS: &[(&str, &[u8])] = &[\n");
    for (lang, file) in &languages {
        writeln!(
            code,
            "    ({lang:?}, include_bytes!({:?})),",
            file.display().to_string()
        )
        .expect("write to string");
    }
    code.push_str("];\n");
    let out =
        PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("embedded_models.rs");
    fs::write(out, code).expect("write embedded_models.rs");
}
