//! `relay-keys`: key tooling for merchants (behind `npm run keygen` and `npm run check-key`).
//!
//!   relay-keys keygen [--bits 2048|1024] [--out DIR]
//!   relay-keys check-key [--private FILE|-] [--public BASE64|FILE]

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    std::process::exit(native::run(std::env::args().skip(1).collect()));
}

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::fs;
    use std::io::Read;
    use std::path::{Path, PathBuf};

    use baidu_order_relay::keytool;

    const USAGE: &str = "usage:
  npm run keygen -- [--bits 2048|1024] [--out DIR]
  npm run check-key -- [--private FILE|-] [--public BASE64|FILE]";

    pub fn run(args: Vec<String>) -> i32 {
        let Some((command, rest)) = args.split_first() else {
            eprintln!("{USAGE}");
            return 2;
        };
        let result = match command.as_str() {
            "keygen" => keygen(rest),
            "check-key" => check_key(rest),
            _ => Err(USAGE.to_owned()),
        };
        match result {
            Ok(code) => code,
            Err(message) => {
                eprintln!("{message}");
                2
            }
        }
    }

    fn option<'a>(args: &'a [String], name: &str) -> Result<Option<&'a str>, String> {
        match args.iter().position(|a| a == name) {
            None => Ok(None),
            Some(i) => args
                .get(i + 1)
                .map(|v| Some(v.as_str()))
                .ok_or(format!("{name} needs a value\n{USAGE}")),
        }
    }

    fn keygen(args: &[String]) -> Result<i32, String> {
        let bits = match option(args, "--bits")? {
            None => 2048,
            Some(text) => text
                .parse()
                .map_err(|_| format!("--bits must be 2048 or 1024\n{USAGE}"))?,
        };
        let out = PathBuf::from(option(args, "--out")?.unwrap_or("keys"));
        let key = keytool::generate(bits)?;
        fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
        let private_path = out.join("baidu-merchant-private.pem");
        let public_path = out.join("baidu-merchant-public.txt");
        if private_path.exists() {
            return Err(format!(
                "{} already exists; not overwriting a key. Choose another --out directory.",
                private_path.display()
            ));
        }
        write_private(&private_path, &key.private_pem)?;
        fs::write(&public_path, format!("{}\n", key.public_base64))
            .map_err(|e| format!("cannot write {}: {e}", public_path.display()))?;
        println!("Generated an RSA-{} key pair.\n", key.bits);
        println!(
            "1. Public key for Baidu's console (payment service, 开发者公钥), also in {}:\n",
            public_path.display()
        );
        println!("{}\n", key.public_base64);
        println!(
            "2. Private key, kept secret, in {} (PKCS#8 PEM). Give it to the relay:\n",
            private_path.display()
        );
        println!(
            "   npx wrangler secret put BAIDU_RSA_PRIVATE_KEY < {}\n",
            private_path.display()
        );
        println!("3. Check the pair at any time (paste the public key Baidu's console shows):\n");
        println!(
            "   npm run check-key -- --private {} --public <Baidu's displayed public key>",
            private_path.display()
        );
        Ok(0)
    }

    fn write_private(path: &Path, pem: &str) -> Result<(), String> {
        fs::write(path, pem).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o600));
        }
        Ok(())
    }

    fn check_key(args: &[String]) -> Result<i32, String> {
        let private = match option(args, "--private")? {
            None | Some("-") => {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .map_err(|e| format!("cannot read the private key from stdin: {e}"))?;
                text
            }
            Some(path) => {
                fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?
            }
        };
        let public = match option(args, "--public")? {
            None => None,
            Some(value) if Path::new(value).is_file() => {
                Some(fs::read_to_string(value).map_err(|e| format!("cannot read {value}: {e}"))?)
            }
            Some(value) => Some(value.to_owned()),
        };
        let report = keytool::check(&private, public.as_deref());
        print!("{}", report.text);
        Ok(if report.ok { 0 } else { 1 })
    }
}
