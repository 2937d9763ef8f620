//! The report's HTML page printed to PDF by headless Chromium.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// Why a PDF could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("cannot write the report page: {0}")]
    Io(#[from] std::io::Error),
    #[error("{program} failed: {detail}")]
    Renderer { program: String, detail: String },
    #[error("{program} did not finish within {seconds} s")]
    Timeout { program: String, seconds: u64 },
}

/// Print `html` to PDF with headless Chromium (`program`).
pub async fn to_pdf(html: &str, program: &str, timeout: Duration) -> Result<Vec<u8>, PdfError> {
    let dir = TempDir::new()?;
    let page = dir.0.join("report.html");
    let pdf = dir.0.join("report.pdf");
    tokio::fs::write(&page, html).await?;
    let run = tokio::process::Command::new(program)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-pdf-header-footer",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.0.join("profile").display()
        ))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| PdfError::Timeout {
            program: program.to_string(),
            seconds: timeout.as_secs(),
        })?
        .map_err(|e| PdfError::Renderer {
            program: program.to_string(),
            detail: e.to_string(),
        })?;
    let bytes = tokio::fs::read(&pdf).await.ok();
    match bytes {
        Some(bytes) if output.status.success() && bytes.starts_with(b"%PDF") => Ok(bytes),
        _ => Err(PdfError::Renderer {
            program: program.to_string(),
            detail: format!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        }),
    }
}

/// A private temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<TempDir> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "eastwest-report-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path)?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
