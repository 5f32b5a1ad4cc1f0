// Lets the service tests start this app with WebApplicationFactory<Program>.
public partial class Program;
