from guest import build_c, run_guest


def test_args_env_and_exit_code() -> None:
    run = run_guest(build_c("smoke"), ["a", "-b", "c d"], env={"K": "V"})
    assert run.out == "arg 0: guest\narg 1: a\narg 2: -b\narg 3: c d\nK=V\n"
    assert run.exit_code == 4
