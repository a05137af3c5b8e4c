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
        // torch-sys asks for torch_cuda, but nothing calls into it directly,
        // so the linker's --as-needed drops it and libtorch never sees a GPU
        // (tch-rs issues 907 and 980). Keep it needed when libtorch has one.
        let lib = std::path::Path::new(&lib_dir);
        for cuda in ["torch_cuda", "torch_hip"] {
            if lib.join(format!("lib{cuda}.so")).exists() {
                println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-l{cuda},--as-needed");
            }
        }
    } else {
        println!(
            "cargo:warning=torch-sys did not announce its libtorch folder; set LD_LIBRARY_PATH to run"
        );
        println!("cargo:rustc-env=SHELFWISE_LIBTORCH_LIB=");
    }
}
