//! Puts libtorch's library folder into the binaries' rpath, so that `shelfwise`,
//! its tests and its benches run without `LD_LIBRARY_PATH`.

fn main() {
    // torch-sys (`links = "tch"`) announces the folder it linked against as
    // `cargo:libtorch_lib`, which reaches a direct dependent as DEP_TCH_LIBTORCH_LIB.
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if let Ok(lib_dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib_dir}");
        // libtorch is linked only when used; keep it, so the rpath always applies.
        println!("cargo:rustc-env=SHELFWISE_LIBTORCH_LIB={lib_dir}");
    } else {
        println!(
            "cargo:warning=torch-sys did not announce its libtorch folder; set LD_LIBRARY_PATH to run"
        );
        println!("cargo:rustc-env=SHELFWISE_LIBTORCH_LIB=");
    }
}
