"""A schema-only stand-in for Terraform providers (tfplugin6 over gRPC), for offline checks.

It serves the schema rebuilt by ``schema_from_jsii.py`` so that real ``terraform validate`` and
``terraform test`` with ``mock_provider`` run where the registry cannot be reached. Terraform
itself checks configuration against the schema (unknown arguments, missing required arguments and
blocks, arguments in the wrong block, wrong types), so the stand-in is exactly as strict as the
provider's schema. It never creates anything: planning or applying against it without
``mock_provider`` fails with an error diagnostic.

Usage::

    python standin.py SOCKET_DIR ADDRESS=SCHEMA.json [ADDRESS=SCHEMA.json ...]

e.g. ``registry.terraform.io/hashicorp/google=google.json``. It prints one line, the value for
``TF_REATTACH_PROVIDERS``, then serves on Unix sockets in SOCKET_DIR (loopback only, by
construction) until it receives SIGTERM or SIGINT.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from concurrent import futures
from typing import Any

import grpc
from tf.gen import grpc_controller_pb2 as controller_pb
from tf.gen import grpc_controller_pb2_grpc as controller_rpc
from tf.gen import grpc_stdio_pb2_grpc as stdio_rpc
from tf.gen import tfplugin_pb2 as pb
from tf.gen import tfplugin_pb2_grpc as rpc

_NESTING = {
    "SINGLE": pb.Schema.NestedBlock.SINGLE,
    "LIST": pb.Schema.NestedBlock.LIST,
    "SET": pb.Schema.NestedBlock.SET,
    "MAP": pb.Schema.NestedBlock.MAP,
}
_NOT_SERVED = (
    "this offline stand-in serves the provider schema only; "
    "use mock_provider in terraform test, or the real provider for plan and apply"
)


def build_block(spec: dict[str, Any]) -> pb.Schema.Block:
    block = pb.Schema.Block()
    for attr in spec["attributes"]:
        block.attributes.append(
            pb.Schema.Attribute(
                name=attr["name"],
                type=json.dumps(attr["type"]).encode(),
                required=attr["required"],
                optional=attr["optional"],
                computed=attr["computed"],
            )
        )
    for nested in spec["block_types"]:
        block.block_types.append(
            pb.Schema.NestedBlock(
                type_name=nested["type_name"],
                block=build_block(nested["block"]),
                nesting=_NESTING[nested["nesting"]],
                min_items=nested["min_items"],
                max_items=nested["max_items"],
            )
        )
    return block


def build_schema_response(spec: dict[str, Any]) -> pb.GetProviderSchema.Response:
    response = pb.GetProviderSchema.Response()
    empty: dict[str, Any] = {"attributes": [], "block_types": []}
    response.provider.CopyFrom(pb.Schema(block=build_block(spec.get("provider") or empty)))
    for name, block in spec["resources"].items():
        response.resource_schemas[name].CopyFrom(pb.Schema(block=build_block(block)))
    for name, block in spec["data_sources"].items():
        response.data_source_schemas[name].CopyFrom(pb.Schema(block=build_block(block)))
    return response


def _error(summary: str) -> pb.Diagnostic:
    return pb.Diagnostic(severity=pb.Diagnostic.ERROR, summary=summary)


class StandIn(rpc.ProviderServicer):  # type: ignore[misc]
    """Answers schema and validation calls; refuses to plan, apply or read for real."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self._schema = build_schema_response(spec)

    def GetMetadata(self, request: Any, context: Any) -> pb.GetMetadata.Response:
        response = pb.GetMetadata.Response()
        for name in self._schema.resource_schemas:
            response.resources.append(pb.GetMetadata.ResourceMetadata(type_name=name))
        for name in self._schema.data_source_schemas:
            response.data_sources.append(pb.GetMetadata.DataSourceMetadata(type_name=name))
        return response

    def GetProviderSchema(self, request: Any, context: Any) -> pb.GetProviderSchema.Response:
        return self._schema

    def ValidateProviderConfig(self, request: Any, context: Any) -> Any:
        return pb.ValidateProviderConfig.Response()

    def ValidateResourceConfig(self, request: Any, context: Any) -> Any:
        return pb.ValidateResourceConfig.Response()

    def ValidateDataResourceConfig(self, request: Any, context: Any) -> Any:
        return pb.ValidateDataResourceConfig.Response()

    def UpgradeResourceState(self, request: Any, context: Any) -> Any:
        # State written by this Terraform for this schema needs no upgrade: hand it back as JSON.
        return pb.UpgradeResourceState.Response(
            upgraded_state=pb.DynamicValue(json=request.raw_state.json)
        )

    def ConfigureProvider(self, request: Any, context: Any) -> Any:
        return pb.ConfigureProvider.Response(diagnostics=[_error(_NOT_SERVED)])

    def ReadResource(self, request: Any, context: Any) -> Any:
        return pb.ReadResource.Response(diagnostics=[_error(_NOT_SERVED)])

    def PlanResourceChange(self, request: Any, context: Any) -> Any:
        return pb.PlanResourceChange.Response(diagnostics=[_error(_NOT_SERVED)])

    def ApplyResourceChange(self, request: Any, context: Any) -> Any:
        return pb.ApplyResourceChange.Response(diagnostics=[_error(_NOT_SERVED)])

    def ImportResourceState(self, request: Any, context: Any) -> Any:
        return pb.ImportResourceState.Response(diagnostics=[_error(_NOT_SERVED)])

    def ReadDataSource(self, request: Any, context: Any) -> Any:
        return pb.ReadDataSource.Response(diagnostics=[_error(_NOT_SERVED)])

    def GetFunctions(self, request: Any, context: Any) -> Any:
        return pb.GetFunctions.Response()

    def StopProvider(self, request: Any, context: Any) -> Any:
        return pb.StopProvider.Response()


class _Controller(controller_rpc.GRPCControllerServicer):  # type: ignore[misc]
    def Shutdown(self, request: Any, context: Any) -> Any:
        # Terraform does not own this process (it was attached to): stay up for the next run.
        return controller_pb.Empty()


class _Stdio(stdio_rpc.GRPCStdioServicer):  # type: ignore[misc]
    def StreamStdio(self, request: Any, context: Any) -> Any:
        return iter(())


def serve(socket_dir: str, providers: dict[str, str]) -> tuple[list[Any], dict[str, Any]]:
    servers: list[Any] = []
    reattach: dict[str, Any] = {}
    for index, (address, schema_path) in enumerate(sorted(providers.items())):
        with open(schema_path, encoding="utf-8") as handle:
            spec = json.load(handle)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        rpc.add_ProviderServicer_to_server(StandIn(spec), server)
        controller_rpc.add_GRPCControllerServicer_to_server(_Controller(), server)
        stdio_rpc.add_GRPCStdioServicer_to_server(_Stdio(), server)
        sock = os.path.join(socket_dir, f"provider{index}.sock")
        server.add_insecure_port(f"unix://{sock}")
        server.start()
        servers.append(server)
        reattach[address] = {
            "Protocol": "grpc",
            "ProtocolVersion": 6,
            "Pid": os.getpid(),
            "Test": True,
            "Addr": {"Network": "unix", "String": sock},
        }
    return servers, reattach


def main(argv: list[str]) -> int:
    if len(argv) < 3 or any("=" not in a for a in argv[2:]):
        print(__doc__, file=sys.stderr)
        return 2
    providers = dict(a.split("=", 1) for a in argv[2:])
    servers, reattach = serve(argv[1], providers)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(json.dumps(reattach), flush=True)
    stop.wait()
    for server in servers:
        server.stop(grace=0.5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
