/* Does nothing: what the host costs to set up, instantiate, start and tear down a guest. */
int main(void) { return 0; }
