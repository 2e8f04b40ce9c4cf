//! Writes the CRD YAML, one file per kind, into a directory:
//! `crdgen crds/`. With `--check` it writes nothing and exits non-zero when
//! a file is missing or differs (the test command's drift check).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut check = false;
    let mut dir = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--check" => check = true,
            _ if dir.is_none() => dir = Some(PathBuf::from(arg)),
            _ => {
                eprintln!("usage: crdgen [--check] <output directory>");
                return ExitCode::from(2);
            }
        }
    }
    let Some(dir) = dir else {
        eprintln!("usage: crdgen [--check] <output directory>");
        return ExitCode::from(2);
    };
    match tollgate_operator::crdgen::run(&dir, check) {
        Ok(stale) if stale.is_empty() => ExitCode::SUCCESS,
        Ok(stale) => {
            for file in stale {
                eprintln!(
                    "{} is out of date: run `cargo run -p tollgate-operator --bin crdgen -- {}`",
                    file.display(),
                    dir.display()
                );
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("crdgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}
