//! Generates the protobuf and gRPC code from `proto/` at build time with
//! protox (a protobuf compiler written in Rust), so building needs nothing
//! but cargo: no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/transport.proto",
        "proto/raft.proto",
        "proto/paxos.proto",
    ];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(protos, ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .build_transport(false)
        .compile_fds(descriptors)?;
    Ok(())
}
