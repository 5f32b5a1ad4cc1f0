// Lets the gateway tests start this app with WebApplicationFactory<Program>.
public partial class Program;
