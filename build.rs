//! Generates include/cacheness.h from src/ffi with cbindgen. The header is checked in; the
//! file is rewritten only when its content changes, and CI fails if the checked-in copy differs.

use std::path::PathBuf;

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml is valid");
    let bindings = match cbindgen::Builder::new().with_crate(&root).with_config(config).generate() {
        Ok(b) => b,
        Err(e) => {
            // A syntax error in the crate is reported by rustc itself; do not fail twice.
            println!("cargo:warning=cbindgen could not generate the header: {e}");
            return;
        }
    };
    let path = root.join("include/cacheness.h");
    let mut text = Vec::new();
    bindings.write(&mut text);
    if std::fs::read(&path).ok().as_deref() != Some(&text[..]) {
        std::fs::create_dir_all(root.join("include")).expect("can create include/");
        std::fs::write(&path, text).expect("can write include/cacheness.h");
    }
}
