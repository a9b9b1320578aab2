"""`net2dot(out, net)`: a net as a GraphViz digraph, for `mocha dot` (`mocha.cli.dot_cmd`) and
Python (`mocha.net2dot`). Plain Python: importing it loads neither typer nor rich."""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from mocha.core.net import Net

_DOT_STRING = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})
_DOT_RECORD = str.maketrans(
    {
        "\\": "\\\\",
        '"': '\\"',
        "\n": "\\n",
        "{": "\\{",
        "}": "\\}",
        "|": "\\|",
        "<": "\\<",
        ">": "\\>",
    }
)


def _dot(text: str, record: bool = True) -> str:
    """`text` inside a quoted DOT string: backslashes and quotes escaped, a newline as `\\n`;
    in a `record` label also the braces, bars and angle brackets that structure it."""
    return text.translate(_DOT_RECORD if record else _DOT_STRING)


def net2dot(out: TextIO, net: Net) -> None:
    """Write the net as a GraphViz digraph (semantics §2.11; shapes in numpy order). Names are
    escaped, so any layer or blob name gives a well-formed graph showing that name."""
    out.write(f'digraph "{_dot(net.name, record=False)}" {{\n')
    out.write("rankdir = BT;\n")
    out.write('node [shape=record,fontname="Fira Mono"];\n')
    made: dict[str, tuple[int, int]] = {}
    for i, (layer, state) in enumerate(zip(net.layers, net.states)):
        kind = type(layer).__name__.removesuffix("Layer")
        label = f"{_dot(kind)}\\n{_dot(layer.name)}"
        neuron = getattr(layer, "neuron", None)
        if layer.has_neuron and neuron is not None and not neuron.is_identity:
            label += f"\\n({_dot(type(neuron).__name__)})"
        tops = []
        if not (layer.is_sink or layer.is_inplace):
            for j, (top, blob) in enumerate(zip(layer.tops, state.blobs)):
                dims = "x".join(str(d) for d in blob.shape)
                tops.append(f"<t{j + 1}> {_dot(top)} ({dims})")
                made[top] = (i, j + 1)
        bots = []
        for j, bottom in enumerate(layer.bottoms):
            blob = net.output_blobs[bottom]  # the blob the layer reads (set up before it)
            dims = "x".join(str(d) for d in blob.shape)
            bots.append(f"<b{j + 1}> {_dot(bottom)} ({dims})")
        out.write(
            f'layer{i + 1} [label="{label}|{{top:|bot:}}|{{{{{"|".join(tops)}}}|'
            f'{{{"|".join(bots)}}}}}"];\n'
        )
        for j, bottom in enumerate(layer.bottoms):
            if bottom in made:
                src, port = made[bottom]
                out.write(f"layer{src + 1}:t{port} ->layer{i + 1}:b{j + 1};\n")
    out.write("}\n")
