//! Compiles `proto/` with protox (no system protoc) and tonic-prost-build, and writes the
//! descriptor set that server reflection serves.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let protos: Vec<PathBuf> = std::fs::read_dir(root.join("samenspel/v1"))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "proto"))
        .collect();
    let fds = protox::compile(&protos, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    // protox does not honour file_descriptor_set_path: write the set for reflection ourselves.
    std::fs::write(out.join("samenspel_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure().codec_path("crate::codec::ValidatingCodec").compile_fds(fds)?;
    println!("cargo:rerun-if-changed={}", root.display());
    for p in &protos {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    Ok(())
}
