//! A throw-away certificate authority for TLS tests, made with the `openssl` command: a CA,
//! a server certificate for `localhost` (and only that name), a client certificate, and a
//! second CA that signed nothing, for "wrong CA" tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The PEM files of a test CA, in one folder.
#[derive(Clone, Debug)]
pub struct TestCerts {
    /// The CA that signed the server's and the client's certificates.
    pub ca: PathBuf,
    /// The server's certificate (`CN=localhost`, `subjectAltName=DNS:localhost`) and key.
    pub server_cert: PathBuf,
    /// The server's key.
    pub server_key: PathBuf,
    /// A client certificate signed by [`Self::ca`].
    pub client_cert: PathBuf,
    /// The client certificate's key.
    pub client_key: PathBuf,
    /// A CA that signed neither certificate.
    pub other_ca: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl ({e}): the TLS tests make their own CA"));
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestCerts {
    /// Make every file in `dir` (created if missing).
    pub fn generate(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).expect("the certificates' folder");
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        for ca in ["ca", "other-ca"] {
            let subject = format!("/CN=contracts test {ca}");
            let (key, pem) = (format!("{ca}.key"), format!("{ca}.pem"));
            let mut args = vec!["req", "-x509"];
            args.extend(ec);
            args.extend([
                "-keyout", &key, "-out", &pem, "-days", "2", "-subj", &subject,
            ]);
            openssl(dir, &args);
        }
        for (name, extensions) in [
            (
                "server",
                "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n",
            ),
            ("client", "extendedKeyUsage=clientAuth\n"),
        ] {
            let subject = if name == "server" {
                "/CN=localhost"
            } else {
                "/CN=contracts-client"
            };
            let (key, csr, pem, ext) = (
                format!("{name}.key"),
                format!("{name}.csr"),
                format!("{name}.pem"),
                format!("{name}.ext"),
            );
            std::fs::write(dir.join(&ext), extensions).expect("the extensions file");
            let mut args = vec!["req"];
            args.extend(ec);
            args.extend(["-keyout", &key, "-out", &csr, "-subj", subject]);
            openssl(dir, &args);
            openssl(
                dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-out",
                    &pem,
                    "-days",
                    "2",
                    "-extfile",
                    &ext,
                ],
            );
        }
        Self {
            ca: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client.key"),
            other_ca: dir.join("other-ca.pem"),
        }
    }
}
