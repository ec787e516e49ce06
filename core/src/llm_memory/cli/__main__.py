from llm_memory.cli import cli

cli(prog_name="llm-memory")
