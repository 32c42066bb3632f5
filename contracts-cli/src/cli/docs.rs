//! `contracts docs`: the AsyncAPI document, the OpenAPI document of the HTTP gateway, and
//! the HTML catalog.

use std::path::{Path, PathBuf};

use clap::Args;
use contracts_cli::catalog_page;
use contracts_docs::{asyncapi, openapi};

use super::{Usage, Verdict, load};

/// Write the docs: an AsyncAPI 3.0 document, the HTTP gateway's OpenAPI 3.1 document and a
/// self-contained HTML catalog page.
#[derive(Args)]
#[command(after_help = "Examples:
  contracts docs                          # docs/asyncapi.json, docs/openapi.json, docs/catalog.html
  contracts docs --out site --title 'Orders platform'

The HTML page needs no network: styles inline, the topology drawn as inline SVG.
Exit codes: 0 written, 2 usage or I/O error.")]
pub(super) struct Docs {
    /// Where to write `asyncapi.json`, `openapi.json` and `catalog.html`.
    #[arg(long, default_value = "docs")]
    out: PathBuf,
    /// The title of the AsyncAPI document and the catalog page.
    #[arg(long, default_value = "Service catalog")]
    title: String,
}

impl Docs {
    pub(super) fn run(self, schemas: &Path) -> Result<Verdict, Usage> {
        let catalog = load(schemas)?;
        std::fs::create_dir_all(&self.out)
            .map_err(|e| Usage(format!("{}: {e}", self.out.display())))?;
        let document = asyncapi::document(catalog.services.values(), &self.title);
        let json = serde_json::to_string_pretty(&document).expect("JSON values encode") + "\n";
        self.write("asyncapi.json", &json)?;
        let openapi = openapi::document(catalog.services.values(), &Default::default());
        let json = serde_json::to_string_pretty(&openapi).expect("JSON values encode") + "\n";
        self.write("openapi.json", &json)?;
        self.write("catalog.html", &catalog_page::page(&catalog, &self.title))?;
        Ok(Verdict::Clean)
    }

    fn write(&self, name: &str, text: &str) -> Result<(), Usage> {
        let path = self.out.join(name);
        std::fs::write(&path, text).map_err(|e| Usage(format!("{}: {e}", path.display())))?;
        println!("wrote {}", path.display());
        Ok(())
    }
}
