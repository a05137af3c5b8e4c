//! The real binary opens its window under Xvfb on the demo library, stays up
//! for 10 seconds, and a screenshot of the screen is not blank. Skipped (with
//! a note) where Xvfb or xwd is missing; `scripts/setup.sh` installs both.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Kills the child when dropped, so a failed assertion leaves no process behind.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Distinct pixel values of an XWD dump of a 32-bit screen.
fn distinct_colours(xwd: &[u8], width: usize, height: usize) -> usize {
    let pixels = width * height * 4;
    assert!(xwd.len() >= pixels, "short screenshot: {} bytes", xwd.len());
    let mut colours: Vec<u32> = xwd[xwd.len() - pixels..]
        .chunks_exact(4)
        .map(|p| u32::from_le_bytes([p[0], p[1], p[2], 0]))
        .collect();
    colours.sort_unstable();
    colours.dedup();
    colours.len()
}

#[test]
fn the_window_opens_on_the_demo_library_and_draws() {
    if !on_path("Xvfb") || !on_path("xwd") {
        eprintln!("skipped: Xvfb and xwd are needed (scripts/setup.sh installs xvfb and x11-apps)");
        return;
    }
    let display = format!(":{}", 90 + std::process::id() % 9);
    let socket = format!("/tmp/.X11-unix/X{}", &display[1..]);
    let (width, height) = (1280, 820);
    let _server = Killed(
        Command::new("Xvfb")
            .args([
                &display,
                "-screen",
                "0",
                &format!("{width}x{height}x24"),
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting Xvfb"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::path::Path::new(&socket).exists() {
        assert!(Instant::now() < deadline, "Xvfb did not start on {display}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let library = tempfile::tempdir().unwrap();
    let mut app = Killed(
        Command::new(env!("CARGO_BIN_EXE_shelfwise"))
            .args([
                "--library",
                library.path().to_str().unwrap(),
                "--demo-if-empty",
            ])
            .env("DISPLAY", &display)
            .env_remove("WAYLAND_DISPLAY")
            .env("LIBGL_ALWAYS_SOFTWARE", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting shelfwise"),
    );
    std::thread::sleep(Duration::from_secs(10));
    if let Some(status) = app.0.try_wait().unwrap() {
        let mut stderr = String::new();
        use std::io::Read as _;
        app.0
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        panic!("the window closed within 10 s ({status}): {stderr}");
    }
    let shot = Command::new("xwd")
        .args(["-root", "-silent", "-display", &display])
        .output()
        .expect("running xwd");
    assert!(shot.status.success(), "xwd failed");
    let colours = distinct_colours(&shot.stdout, width, height);
    assert!(colours > 100, "the screen looks blank: {colours} colours");
}
