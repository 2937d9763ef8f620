//! Test certificates made by the real `openssl` CLI: a CA and server
//! certificates for 127.0.0.1 and localhost signed by it.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Run `openssl args` in `dir`.
pub fn openssl(dir: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .context("running openssl (scripts/install-deps test installs it)")?;
    if !out.status.success() {
        bail!("openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// A CA `{ca}.pem`/`{ca}.key` in `dir`.
pub fn make_ca(dir: &Path, ca: &str) -> Result<()> {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{ca}.key"),
            "-out",
            &format!("{ca}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN=eastwest test {ca}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    )
}

/// A server certificate `{name}.pem` (for 127.0.0.1 and localhost, signed
/// by `ca`) and its key `{name}.key`: RSA in the traditional PKCS#1 form
/// when `rsa`, else EC P-256 in PKCS#8.
pub fn make_server_cert(dir: &Path, ca: &str, name: &str, rsa: bool) -> Result<()> {
    let key = format!("{name}.key");
    if rsa {
        openssl(dir, &["genrsa", "-traditional", "-out", &key, "2048"])?;
    } else {
        openssl(
            dir,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                &key,
            ],
        )?;
    }
    let csr = format!("{name}.csr");
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            &key,
            "-out",
            &csr,
            "-subj",
            "/CN=localhost",
        ],
    )?;
    let ext = format!("{name}.ext");
    std::fs::write(
        dir.join(&ext),
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .with_context(|| format!("writing {}", dir.join(&ext).display()))?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &format!("{name}.pem"),
            "-extfile",
            &ext,
        ],
    )
}

/// A ClickHouse of one test's own that also serves HTTPS: a CA `ca.pem`
/// and a server certificate `clickhouse.pem` (RSA, for 127.0.0.1) are made
/// in `dir`, and an `https_port` with an `<openSSL><server>` section is
/// added to the server's config.d. Returns the server and its HTTPS port.
pub fn https_clickhouse(name: &str, dir: &Path) -> Result<(crate::OwnClickHouse, u16)> {
    make_ca(dir, "ca")?;
    make_server_cert(dir, "ca", "clickhouse", true)?;
    let mut https = 0;
    let server = crate::OwnClickHouse::start_with(name, |server| {
        https = crate::free_tcp_port()?;
        server.config_d(
            "https.xml",
            &format!(
                "<yandex>\n  <https_port>{https}</https_port>\n  <openSSL>\n    <server>\n      \
             <certificateFile>{cert}</certificateFile>\n      \
             <privateKeyFile>{key}</privateKeyFile>\n      \
             <verificationMode>none</verificationMode>\n      \
             <loadDefaultCAFile>false</loadDefaultCAFile>\n      \
             <disableProtocols>sslv2,sslv3,tlsv1,tlsv1_1</disableProtocols>\n      \
             <preferServerCiphers>true</preferServerCiphers>\n    </server>\n  </openSSL>\n\
             </yandex>\n",
                cert = dir.join("clickhouse.pem").display(),
                key = dir.join("clickhouse.key").display(),
            ),
        )
    })?;
    crate::wait_for(30, "ClickHouse to answer over https", || {
        let out = Command::new("curl")
            .args(["-sf", "--max-time", "5", "--cacert"])
            .arg(dir.join("ca.pem"))
            .arg(format!("https://127.0.0.1:{https}/ping"))
            .output()?;
        Ok(out.status.success())
    })?;
    Ok((server, https))
}
