"""The Jupyter kernel through jupyter_client (execute, completion, errors, interrupt), a
notebook executed with nbclient, and the `%%zixir` cell magic in IPython."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

jupyter_client = pytest.importorskip("jupyter_client", reason="jupyter_client is not installed")
pytest.importorskip("ipykernel", reason="ipykernel is not installed")

TIMEOUT = 90


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory):
    """`zixir kernel install --prefix DIR`, and Jupyter looking there."""
    prefix = tmp_path_factory.mktemp("jupyter")
    result = subprocess.run([sys.executable, "-m", "zixir", "kernel", "install", "--prefix",
                             str(prefix)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "installed the Zixir kernel" in result.stdout
    return prefix / "share" / "jupyter"


@pytest.fixture(scope="module")
def kernel(kernel_dir, tmp_path_factory):
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    specs = KernelSpecManager(kernel_dirs=[str(kernel_dir / "kernels")])
    manager = KernelManager(kernel_name="zixir", kernel_spec_manager=specs)
    manager.cells_dir = tmp_path_factory.mktemp("cells")  # the kernel's working directory
    manager.start_kernel(cwd=str(manager.cells_dir))
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=TIMEOUT)
    yield manager, client
    client.stop_channels()
    manager.shutdown_kernel(now=True)


def shell_reply(client, msg_id: str) -> dict:
    """The reply to `msg_id` (earlier replies, of kernel_info requests, are skipped)."""
    while True:
        reply = client.get_shell_msg(timeout=TIMEOUT)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply


def execute(client, code: str) -> tuple[dict, list[dict]]:
    """The reply and the iopub messages of one execution."""
    msg_id = client.execute(code)
    reply = shell_reply(client, msg_id)
    messages = []
    while True:
        msg = client.get_iopub_msg(timeout=TIMEOUT)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
        messages.append(msg)
    return reply["content"], messages


def outputs(messages: list[dict], kind: str) -> list[dict]:
    return [m["content"] for m in messages if m["msg_type"] == kind]


def test_cells_share_bindings_print_and_return_values(kernel):
    _, client = kernel
    reply, messages = execute(client, 'let n = 41\nprintln("hello #{n}")\n[n + 1, "x"]')
    assert reply["status"] == "ok"
    assert "".join(s["text"] for s in outputs(messages, "stream")) == "hello 41\n"
    (result,) = outputs(messages, "execute_result")
    assert result["data"]["text/plain"] == '[42, "x"]'
    assert result["data"]["application/json"] == [42, "x"]
    reply, messages = execute(client, "n * 2")
    assert outputs(messages, "execute_result")[0]["data"]["text/plain"] == "82"


def test_output_streams_while_the_cell_runs(kernel):
    """The cell prints a line, then waits (Python calls) until the test has seen that line and
    created a file; output held back until the cell's end would never let it go on."""
    manager, client = kernel
    msg_id = client.execute(
        'println("first")\n'
        'let waited = 0\n'
        'while not exists("go") and waited < 600 { python "time" "sleep" (0.05); waited += 1 }\n'
        'println("second")\nwaited < 600')
    texts = []
    while len(texts) < 2:
        msg = client.get_iopub_msg(timeout=TIMEOUT)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        assert msg["msg_type"] in ("status", "execute_input", "stream"), msg
        if msg["msg_type"] == "stream":
            texts.append(msg["content"]["text"])
            if texts == ["first\n"]:
                (manager.cells_dir / "go").write_text("")
    assert texts == ["first\n", "second\n"]
    reply = shell_reply(client, msg_id)["content"]
    assert reply["status"] == "ok"


def test_errors_are_positioned_and_typed(kernel):
    _, client = kernel
    reply, messages = execute(client, 'let s = "a"\ns - 1')
    assert reply["status"] == "error"
    assert reply["ename"] == "ZixirRuntimeError"
    assert reply["evalue"] == "Invalid binary operation: string - int"
    (error,) = outputs(messages, "error")
    assert error["traceback"][0].endswith(":2:1: error: Invalid binary operation: string - int")
    _, _ = execute(client, "fn g(x) { x / 0 }")  # an error in an earlier cell's function
    reply, messages = execute(client, "g(1)")
    (error,) = outputs(messages, "error")
    assert error["traceback"][1:3] == ["  fn g(x) { x / 0 }", "            ^^^^^"], error
    reply, _ = execute(client, "let x = (1 +")
    assert reply["status"] == "error" and reply["ename"] == "ZixirSyntaxError"


def test_completion_and_is_complete(kernel):
    _, client = kernel
    execute(client, "let my_total = 3")
    reply = shell_reply(client, client.complete("my_t", 4))["content"]
    assert reply["matches"] == ["my_total"] and reply["cursor_start"] == 0
    assert "upper" in shell_reply(client, client.complete("x = upp", 7))["content"]["matches"]
    reply = shell_reply(client, client.is_complete("fn f(x) {"))["content"]
    assert reply["status"] == "incomplete"


def test_interrupt_stops_a_running_cell_and_the_kernel_goes_on(kernel):
    manager, client = kernel
    msg_id = client.execute("let i = 0\nwhile true { i += 1 }")
    while True:  # timed from the cell's start (a loaded machine starts cells late)
        msg = client.get_iopub_msg(timeout=TIMEOUT)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "execute_input":
            break
    time.sleep(1.5)
    manager.interrupt_kernel()
    reply = shell_reply(client, msg_id)
    assert reply["content"]["status"] == "error"
    reply, messages = execute(client, "i > 0")
    assert outputs(messages, "execute_result")[0]["data"]["text/plain"] == "true", messages


def test_interrupt_stops_a_python_call_at_once(kernel):
    """The cell's thread waits for the worker in slices, so the interrupt reaches it within
    one (it then replaces the worker) instead of after the 5 s the kernel waits for it."""
    manager, client = kernel
    execute(client, 'python "time" "sleep" (0)')  # the first call starts the runtime
    msg_id = client.execute('python "time" "sleep" (120)')
    while True:
        msg = client.get_iopub_msg(timeout=TIMEOUT)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "execute_input":
            break
    time.sleep(1.0)
    started = time.monotonic()
    manager.interrupt_kernel()
    reply = shell_reply(client, msg_id)
    assert reply["content"]["status"] == "error"
    assert time.monotonic() - started < 4.0
    reply, _ = execute(client, 'python "math" "sqrt" (16)')
    assert reply["status"] == "ok"


def test_a_notebook_runs_with_nbclient(kernel_dir, tmp_path):
    nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed")
    nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed")
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "zixir", "display_name": "Zixir",
                                       "language": "zixir"}
    notebook.cells = [nbformat.v4.new_code_cell("fn sq(x) { x ** 2 }"),
                      nbformat.v4.new_code_cell('println("sum: #{sum(map(1..4, sq))}")'),
                      nbformat.v4.new_code_cell("sort([3, 1, 2], (a, b) => b - a)")]
    env = dict(os.environ, JUPYTER_PATH=str(kernel_dir))
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = env["JUPYTER_PATH"]
    try:
        nbclient.NotebookClient(notebook, timeout=TIMEOUT, kernel_name="zixir",
                                resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        if old is None:
            del os.environ["JUPYTER_PATH"]
        else:
            os.environ["JUPYTER_PATH"] = old
    assert notebook.cells[1].outputs[0]["text"] == "sum: 14\n"
    assert notebook.cells[2].outputs[0]["data"]["text/plain"] == "[3, 2, 1]"


def test_cell_magic_in_ipython():
    from IPython.testing.globalipapp import start_ipython

    ip = start_ipython()
    ip.run_line_magic("load_ext", "zixir.jupyter")
    assert ip.run_cell_magic("zixir", "", "let base = 40\nbase + 2") == 42
    assert ip.run_cell_magic("zixir", "", "[base, x => x]")[0] == 40
    # an error fails the cell; IPython shows the zixir error text instead of a traceback
    result = ip.run_cell('%%zixir\nlet s = "a"\ns - 1\n')
    assert not result.success
    error = result.error_in_exec
    assert type(error).__name__ == "ZixirRuntimeError"
    shown = error._render_traceback_()
    assert shown[0].endswith(":2:1: error: Invalid binary operation: string - int"), shown
    assert shown[1:] == ["  s - 1", "  ^^^^^"]
